"""A short GitHub-flavoured markdown summary of a comparison (for PR comments and CI step summaries)."""

from __future__ import annotations

import html
import re
from typing import Any

from evalkit.compare.schema import Comparison, GateResult, as_comparison
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


def _gate_lines(gate: GateResult) -> list[str]:
    lines = [f"**Gate: {'✅ passed' if gate.passed else '❌ failed'}**", ""]
    for rule in gate.rules:
        mark = "✅" if rule.passed else "❌"
        message = f" — {md(rule.message)}" if rule.message else ""
        lines.append(f"- {mark} **{md(rule.name)}**{message}")
    return lines + [""]


def _mean(comparison_scores: dict, arm: str | None) -> float | None:
    score = comparison_scores.get(arm)
    return score.mean if score is not None else None


def _verdict_table(comparison: Comparison, reference: str | None) -> list[str]:
    rows = []
    for suite in comparison.suites:
        binary = suite.binary
        for delta in suite.deltas:
            arm = delta.arm
            ref, cand = _mean(suite.scores, reference), _mean(suite.scores, arm)
            ci = fmt_ci(delta.low, delta.high, binary, signed=True)
            cells = [md(suite.name), md(arm), fmt_score(ref, binary), fmt_score(cand, binary),
                     f"{fmt_delta(delta.delta, binary)} {ci}".strip(), fmt_p(delta.p_holm),
                     _verdict(delta.verdict)]
            rows.append("| " + " | ".join(cells) + " |")
    if not rows:
        return ["_No candidate was compared with a reference._", ""]
    header = [f"| Suite | Candidate | {md(reference or 'reference')} | Candidate score | Change (95% CI) "
              "| p (Holm) | Verdict |",
              "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    return header + rows + [""]


def render_markdown_summary(comparison: Comparison | dict) -> str:
    """Return a GitHub-flavoured markdown summary of ``comparison``.

    It holds the verdict table (one row per suite × candidate arm), the gate
    result, prompt-only conclusions, forgetting verdicts, skipped suites and
    notices. Every string from the data is escaped, so outputs or names
    cannot inject markup.
    """
    comparison = as_comparison(comparison)
    reference = next((a.name for a in comparison.arms if a.role == "reference"), None)
    lines = [f"## evalkit: {md(comparison.name or 'comparison')}", ""]
    if comparison.gate:
        lines += _gate_lines(comparison.gate)
    lines += _verdict_table(comparison, reference)

    skipped = [s for s in comparison.suites if s.skipped]
    said = {f"{s.name}: {s.skipped}" for s in skipped}  # a skip's notice is already listed
    notices = [n for n in comparison.metadata.notices if n not in said]
    if skipped or notices:
        lines += ["**Notices**", ""]
        lines += [f"- ⚠️ {md(s.name)} skipped: {md(s.skipped)}" for s in skipped]
        lines += [f"- ⚠️ {md(n)}" for n in notices]
        lines.append("")

    if comparison.prompt_only:
        lines += ["### Is fine-tuning worth it over a prompt?", ""]
        lines += [f"- **{md(p.suite)}**: {md(p.conclusion)}" for p in comparison.prompt_only]
        lines.append("")

    if comparison.forgetting:
        lines += ["### Forgetting", ""]
        for item in comparison.forgetting:
            text = f" — {md(item.text)}" if item.text else ""
            lines.append(f"- **{md(item.arm)}**: {_verdict(item.verdict)}{text}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
