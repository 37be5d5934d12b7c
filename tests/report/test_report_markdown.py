"""The markdown summary: verdict table, gate, prompt-only conclusions, forgetting, escaping."""

from __future__ import annotations

from evalkit.report.markdown import md, render_markdown_summary


def _table_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in rows]


def test_verdict_table_has_one_row_per_suite_and_candidate(comparison: dict) -> None:
    text = render_markdown_summary(comparison)
    rows = _table_rows(text)
    header, body = rows[0], rows[1:]
    assert header[:3] == ["Suite", "Candidate", "base"]
    assert len(body) == 6
    assert body[1][:4] == ["support-triage", "tuned", "40.0%", "87.5%"]
    assert body[1][6] == "▲ improved"
    assert any(row[0] == "general-knowledge" and row[6] == "▼ regressed" for row in body)
    assert all(len(row) == 7 for row in rows)


def test_gate_prompt_only_forgetting_and_notices(comparison: dict) -> None:
    text = render_markdown_summary(comparison)
    assert "**Gate: ❌ failed**" in text
    assert "- ✅ **support-triage min\\_score**" in text
    assert "- ❌ **general-knowledge max\\_regression**" in text
    assert "### Is fine-tuning worth it over a prompt?" in text
    assert "a system prompt recovers 42% (CI 30–55%) of the gain on support-triage" in text
    assert "### Forgetting" in text and "**tuned**: ▼ forgetting" in text
    assert "ANTHROPIC\\_API\\_KEY is not set" in text


def test_passing_gate_and_no_gate(comparison: dict) -> None:
    comparison["gate"] = {"passed": True, "rules": [{"name": "r", "passed": True, "message": "ok"}]}
    assert "**Gate: ✅ passed**" in render_markdown_summary(comparison)
    comparison["gate"] = None
    assert "Gate" not in render_markdown_summary(comparison)


def test_skipped_suite_listed(comparison: dict) -> None:
    comparison["suites"][2]["skipped"] = "judge not run: ANTHROPIC_API_KEY is not set"
    assert "- ⚠️ helpfulness skipped: judge not run" in render_markdown_summary(comparison)


def test_a_skips_notice_is_not_listed_twice(comparison: dict) -> None:
    reason = "judge not run: ANTHROPIC_API_KEY is not set"
    comparison["suites"][2]["skipped"] = reason
    comparison.setdefault("metadata", {})["notices"] = [f"helpfulness: {reason}", "another notice"]
    text = render_markdown_summary(comparison)
    assert text.count("ANTHROPIC\\_API\\_KEY") == 1
    assert "- ⚠️ another notice" in text


def test_hostile_strings_are_inert(comparison: dict) -> None:
    comparison["suites"][0]["name"] = "a|b <script>alert(1)</script>\nnext *bold* [x](javascript:1)"
    text = render_markdown_summary(comparison)
    assert "<script>" not in text
    assert "a\\|b &lt;script&gt;" in text
    assert "\\*bold\\* \\[x\\](javascript:1)" in text
    assert all(len(row) == 7 for row in _table_rows(text))  # the pipe did not add a column


def test_md_cell_helper() -> None:
    assert md(None) == ""
    assert md("x" * 500).endswith("…") and len(md("x" * 500)) == 300
    assert md("a\x00\ud800b") == "a␀\ufffdb"


def test_empty_comparison() -> None:
    text = render_markdown_summary({"schema_version": 2, "name": "empty", "created": "2026-11-23T12:00:00Z",
                                    "arms": [], "suites": []})
    assert text.startswith("## evalkit: empty")
    assert "No candidate was compared" in text
