"""The HTML report: self-contained, escaped, complete (checked on the page source)."""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import plotly.offline

from evalkit.report import charts
from evalkit.report.html import build_context, json_for_script, preview, render_html, render_report
from evalkit.report.text import clean_text

URL_ATTRS = {"src", "href", "action", "formaction", "data", "poster", "srcset", "background", "xlink:href"}


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[dict[str, str | None]] = []
        self.json_blocks: list[str] = []
        self._in_json = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self.scripts.append(dict(attrs))
            self._in_json = dict(attrs).get("type") == "application/json"

    def handle_data(self, data: str) -> None:
        if self._in_json:
            self.json_blocks.append(data)
            self._in_json = False


def _parse(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    return collector


def test_render_report_writes_index(report_path: Path) -> None:
    assert report_path.name == "index.html"
    assert report_path.stat().st_size > 4_000_000  # plotly.js alone is ~4.8 MB


def test_self_contained(report_html: str) -> None:
    page = _parse(report_html)
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            if name in URL_ATTRS and value:
                assert not re.match(r"\s*(https?:)?//", value, re.I), f"external {name} on <{tag}>: {value}"
        assert tag not in {"link", "iframe", "object", "embed", "base"}, f"unexpected <{tag}>"
        if tag == "script":
            assert "src" not in attrs, "scripts must be inline"
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", report_html, re.I)
    assert "@import" not in report_html
    # plotly.js bundled inline exactly once, no CDN loader
    assert report_html.count("* plotly.js v") == 1
    assert report_html.count(plotly.offline.get_plotlyjs()[:2000]) == 1
    assert "cdn.plot.ly/plotly" not in report_html.split("<script>", 1)[0]
    assert len(page.scripts) == 3  # figures JSON, plotly.js, the report's own script


def test_figures_embedded_as_json(report_html: str) -> None:
    page = _parse(report_html)
    assert len(page.json_blocks) == 1
    figures = json.loads(page.json_blocks[0])
    ids = {f["id"] for f in figures}
    # 3 score charts, 2 forest panels (binary + continuous), prompt-only, checkpoints, history
    assert len(figures) == 8
    assert {"fig-forest-binary", "fig-forest-continuous", "fig-prompt-only", "fig-checkpoints",
            "fig-history"} <= ids
    for ident in ids:
        assert f'id="{ident}"' in report_html
    assert report_html.count("Plotly.newPlot") == 1 + plotly.offline.get_plotlyjs().count("Plotly.newPlot")


def test_model_outputs_are_escaped(report_html: str, hostile: SimpleNamespace) -> None:
    assert hostile.pwn not in report_html
    assert "<script>window.__pwned" not in report_html
    assert "<img src=x" not in report_html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;&lt;img src=x onerror=" in report_html
    assert "&lt;/script&gt;&lt;script&gt;window.__pwned=3" in report_html
    assert hostile.category not in report_html
    assert "&lt;b onmouseover=" in report_html
    assert "<b onmouseover" not in report_html
    # only the page's own three script elements close
    assert report_html.lower().count("</script") == 3
    # gate messages and names are data too
    assert "<script>alert(1)</script>" not in report_html
    assert "demo &lt;fine-tune&gt; &amp; friends" in report_html


def test_control_characters_and_surrogates(report_html: str, report_path: Path) -> None:
    report_path.read_bytes().decode("utf-8")  # strict: no lone surrogates made it to disk
    for char in "\x00\x07\x1b\x85":
        assert char not in report_html
    assert "␀␇␛[31mred␛[0m \ufffd lone and a pair 😀" in report_html


def test_long_output_truncated_for_display_but_kept(report_html: str, hostile: SimpleNamespace) -> None:
    assert hostile.big in report_html  # plain text: escaping does not change it
    assert "show all (1,080,000 chars)" in report_html
    assert re.search(r'<pre class="t full" hidden>lorem ipsum', report_html)


def test_sections_present(report_html: str) -> None:
    for anchor in ("verdicts", "scores", "deltas", "forgetting", "prompt-only", "checkpoints", "history",
                   "flips", "samples", "metadata"):
        assert f'id="{anchor}"' in report_html
    assert "Gate failed" in report_html
    assert "judge not run for style-judge: ANTHROPIC_API_KEY is not set" in report_html
    assert "judge transcript" in report_html
    assert "Rate this answer 1-10:\n&lt;answer&gt;" in report_html
    assert "a system prompt recovers 42% (CI 30–55%)" in report_html
    assert "TimeoutError: generation took &gt; 60 s" in report_html
    assert "sha256:2f3a9c0de27b1e" in report_html
    assert "123.4 s" in report_html
    assert 'class="badge v-regressed"' in report_html and 'class="badge v-improved"' in report_html


def test_flip_rows_and_filters(report_html: str, comparison: dict) -> None:
    flips = comparison["flips"]
    assert report_html.count('<article class="flip"') == len(flips)
    for value in {f["category"] for f in flips}:
        escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;")
        assert f'<option value="{escaped}">' in report_html
    first = report_html.index('<article class="flip"')
    assert 'data-direction="pass_to_fail"' in report_html[first:first + 300]


def test_minimal_comparison_renders(tmp_path: Path) -> None:
    minimal = {"schema_version": 1, "name": "empty", "arms": [], "suites": [], "forgetting": [],
               "prompt_only": [], "flips": [], "samples": {}, "checkpoints": None, "history": None,
               "gate": None, "metadata": {}}
    html = render_report(minimal, tmp_path).read_text(encoding="utf-8")
    assert "No flips." in html and "No candidate was compared" in html
    assert json.loads(_parse(html).json_blocks[0]) == []


def test_skipped_suite_and_excluded_arm(tmp_path: Path, comparison: dict) -> None:
    comparison["suites"][2]["skipped"] = "judge not run: ANTHROPIC_API_KEY is not set"
    comparison["suites"][0]["scores"]["prompt_only"]["excluded_reason"] = "3 of 40 generations failed"
    comparison["suites"][1]["deltas"][0]["verdict"] = "something new"
    html = render_report(comparison, tmp_path).read_text(encoding="utf-8")
    assert "helpfulness: judge not run: ANTHROPIC_API_KEY is not set" in html
    assert "excluded: 3 of 40 generations failed" in html
    context = build_context(comparison)
    bars = context["figures"]["scores"][0]["figure"]["data"][0]["x"]
    assert bars == ["base", "tuned"]


def test_json_for_script_round_trips() -> None:
    value = {"a": "</script><script>alert(1)</script>", "b": "x & y > z", "c": "\u2028\u2029",
             "d": [1.5, None]}
    text = json_for_script(value)
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == value


def test_chart_text_is_escaped_for_plotly(comparison: dict) -> None:
    comparison["suites"][0]["name"] = "<b>bold</b>"
    figures = charts.score_figures(comparison)
    assert figures[0]["figure"]["layout"]["title"]["text"] == "&lt;b&gt;bold&lt;/b&gt;"


def test_clean_text_and_preview() -> None:
    assert clean_text("a\x00b\x7fc\x9fd\te\nf") == "a␀b␡c\ufffdd\te\nf"
    assert clean_text("\ud83d\ude00 \udc00") == "😀 \ufffd"
    assert preview("short") is None
    assert preview("x" * 5000) == "x" * 480
    assert preview("\n".join(["line"] * 30)).count("\n") == 9


def test_does_not_mutate_input(comparison: dict) -> None:
    before = copy.deepcopy(comparison)
    build_context(comparison)
    assert comparison == before


def test_breakout_output_in_flip_explorer(report_html: str, hostile: SimpleNamespace) -> None:
    assert hostile.breakout[:10] not in report_html
    assert report_html.count("&lt;/script&gt;&lt;script&gt;window.__pwned=3&lt;/script&gt;") >= 2


def test_pairwise_judge_block_is_rendered_and_escaped(comparison, tmp_path):
    from evalkit.report.html import render_report

    suite = comparison["suites"][0]
    arm = next(a["name"] for a in comparison["arms"] if a["role"] == "candidate")
    summary = {"n": 10, "wins": 6, "ties": 3, "losses": 1, "win_rate": 0.6, "win_rate_low": 0.3,
               "win_rate_high": 0.9, "position_bias_rate": 0.2, "usage": {"calls": 20}}
    suite["pairwise"] = {"judge": {"model": "m"}, "arms": {arm: summary}}
    html = render_report(comparison, tmp_path).read_text(encoding="utf-8")
    assert 'id="pairwise"' in html
    assert "60% (30–90%)" in html and "20%" in html


def test_the_synthetic_comparison_is_a_valid_document_and_renders_the_same_typed(comparison: dict) -> None:
    from evalkit.compare.schema import validate_written

    typed = validate_written(comparison)
    assert typed.to_doc() == {**comparison, "schema_version": typed.schema_version}
    assert render_html(typed) == render_html({**comparison, "schema_version": typed.schema_version})
