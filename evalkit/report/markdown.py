"""A short GitHub-flavoured markdown summary of a comparison (for PR comments and CI step summaries)."""

from __future__ import annotations

import html
import re
from typing import Any

from evalkit.report.text import clean_text, fmt_ci, fmt_delta, fmt_p, fmt_score, verdict_symbol

MAX_CELL = 300
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")


def md(value: Any, limit: int = MAX_CELL) -> str:
    """Text from the data made inert in markdown: one line, HTML and markdown syntax escaped."""
    text = " ".join(clean_text("" if value is None else str(value)).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def _verdict(verdict: Any) -> str:
    return f"{verdict_symbol(verdict)} {md(verdict)}"


def _gate_lines(gate: dict[str, Any]) -> list[str]:
    lines = [f"**Gate: {'✅ passed' if gate.get('passed') else '❌ failed'}**", ""]
    for rule in gate.get("rules") or []:
        mark = "✅" if rule.get("passed") else "❌"
        message = f" — {md(rule.get('message'))}" if rule.get("message") else ""
        lines.append(f"- {mark} **{md(rule.get('name'))}**{message}")
    return lines + [""]


def _verdict_table(comparison: dict[str, Any], reference: str | None) -> list[str]:
    rows = []
    for suite in comparison.get("suites") or []:
        binary = bool(suite.get("binary"))
        scores = suite.get("scores") or {}
        for delta in suite.get("deltas") or []:
            arm = delta.get("arm")
            ref = (scores.get(reference) or {}).get("mean")
            cand = (scores.get(arm) or {}).get("mean")
            ci = fmt_ci(delta.get("low"), delta.get("high"), binary, signed=True)
            cells = [md(suite.get("name")), md(arm), fmt_score(ref, binary), fmt_score(cand, binary),
                     f"{fmt_delta(delta.get('delta'), binary)} {ci}".strip(), fmt_p(delta.get("p_holm")),
                     _verdict(delta.get("verdict"))]
            rows.append("| " + " | ".join(cells) + " |")
    if not rows:
        return ["_No candidate was compared with a reference._", ""]
    header = [f"| Suite | Candidate | {md(reference or 'reference')} | Candidate score | Change (95% CI) "
              "| p (Holm) | Verdict |",
              "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    return header + rows + [""]


def render_markdown_summary(comparison: dict[str, Any]) -> str:
    """Return a GitHub-flavoured markdown summary of ``comparison``.

    It holds the verdict table (one row per suite × candidate arm), the gate
    result, prompt-only conclusions, forgetting verdicts, skipped suites and
    notices. Every string from the data is escaped, so outputs or names
    cannot inject markup.
    """
    arms = [a for a in comparison.get("arms") or [] if isinstance(a, dict)]
    reference = next((a.get("name") for a in arms if a.get("role") == "reference"), None)
    lines = [f"## evalkit: {md(comparison.get('name') or 'comparison')}", ""]
    if comparison.get("gate"):
        lines += _gate_lines(comparison["gate"])
    lines += _verdict_table(comparison, reference)

    skipped = [s for s in comparison.get("suites") or [] if s.get("skipped")]
    said = {f"{s.get('name')}: {s.get('skipped')}" for s in skipped}  # a skip's notice is already listed
    notices = [n for n in (comparison.get("metadata") or {}).get("notices") or [] if n not in said]
    if skipped or notices:
        lines += ["**Notices**", ""]
        lines += [f"- ⚠️ {md(s.get('name'))} skipped: {md(s.get('skipped'))}" for s in skipped]
        lines += [f"- ⚠️ {md(n)}" for n in notices]
        lines.append("")

    prompt_only = comparison.get("prompt_only") or []
    if prompt_only:
        lines += ["### Is fine-tuning worth it over a prompt?", ""]
        lines += [f"- **{md(p.get('suite'))}**: {md(p.get('conclusion'))}" for p in prompt_only]
        lines.append("")

    forgetting = comparison.get("forgetting") or []
    if forgetting:
        lines += ["### Forgetting", ""]
        for item in forgetting:
            text = f" — {md(item.get('text'))}" if item.get("text") else ""
            lines.append(f"- **{md(item.get('arm'))}**: {_verdict(item.get('verdict'))}{text}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
