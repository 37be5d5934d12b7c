"""The self-contained HTML comparison report (``index.html``).

One file that opens offline: CSS and a small script are inlined, plotly.js is
bundled inline once, and each figure is embedded as JSON inside a
``<script type="application/json">`` block and drawn by ``Plotly.newPlot``.
Every string from the comparison is cleaned (:mod:`evalkit.report.text`) and
HTML-escaped by Jinja's autoescape; JSON for scripts has ``<``, ``>`` and
``&`` escaped so an output containing ``</script>`` cannot break out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import plotly.offline

from evalkit.compare.schema import Comparison
from evalkit.report import charts
from evalkit.report.text import (
    as_display,
    deep_clean,
    finite,
    fmt_ci,
    fmt_delta,
    fmt_p,
    fmt_pct,
    fmt_score,
    verdict_class,
    verdict_symbol,
)
from evalkit.runner.store import finite as store_finite
from evalkit.runner.store import write_text_atomic

TEMPLATES = Path(__file__).parent / "templates"
PREVIEW_CHARS = 480
PREVIEW_LINES = 10
MAX_FLIPS = 5000
MAX_SAMPLES_PER_SUITE = 5000


def json_for_script(obj: Any) -> str:
    """JSON safe to put verbatim inside a ``<script>`` element.

    ``<``, ``>`` and ``&`` become ``\\u003c`` etc. (still valid JSON, parsed back
    to the same characters), as do U+2028/U+2029.
    """
    text = json.dumps(store_finite(obj), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


def preview(text: str) -> str | None:
    """The start of ``text`` to show by default, or None when it is short enough to show whole."""
    lines = text.split("\n", PREVIEW_LINES)
    if len(text) <= PREVIEW_CHARS and len(lines) <= PREVIEW_LINES:
        return None
    return "\n".join(lines[:PREVIEW_LINES])[:PREVIEW_CHARS].rstrip()


def _plotly_js() -> str:
    return plotly.offline.get_plotlyjs().replace("</script", "<\\/script")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        score=fmt_score, delta=fmt_delta, ci=fmt_ci, p=fmt_p, pct=fmt_pct, display=as_display,
        preview=preview, vclass=verdict_class, vsymbol=verdict_symbol,
        pretty=lambda obj: json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True, default=str),
    )
    return env


def _verdict_rows(comparison: dict[str, Any], reference: str | None) -> list[dict[str, Any]]:
    rows = []
    for suite in comparison.get("suites") or []:
        scores = suite.get("scores") or {}
        for delta in suite.get("deltas") or []:
            arm = delta.get("arm")
            rows.append({
                "suite": suite, "delta": delta, "arm": arm,
                "ref_score": scores.get(reference) or {}, "cand_score": scores.get(arm) or {},
            })
    return rows


def _flip_context(comparison: dict[str, Any]) -> dict[str, Any]:
    flips = [f for f in comparison.get("flips") or [] if isinstance(f, dict)]
    # What broke comes first: pass -> fail flips before fail -> pass ones (a stable sort keeps the rest).
    flips.sort(key=lambda f: f.get("direction") != "pass_to_fail")

    def options(key: str) -> list[str]:
        return sorted({str(f.get(key)) for f in flips if f.get(key) not in (None, "")})

    return {
        "rows": flips[:MAX_FLIPS], "total": len(flips),
        "suites": options("suite"), "arms": options("arm"),
        "directions": options("direction"), "categories": options("category"),
    }


def _sample_tables(comparison: dict[str, Any], arm_names: list[str]) -> list[dict[str, Any]]:
    tables = []
    for suite_name, samples in (comparison.get("samples") or {}).items():
        samples = [s for s in samples or [] if isinstance(s, dict)]
        seen = [a for a in arm_names if any(a in (s.get("outputs") or {}) for s in samples)]
        extra = sorted({a for s in samples for a in (s.get("outputs") or {}) if a not in arm_names})
        arms = seen + extra
        rows = []
        for sample in samples[:MAX_SAMPLES_PER_SUITE]:
            outputs = sample.get("outputs") or {}
            passed = {outputs[a].get("passed") for a in arms if isinstance(outputs.get(a), dict)}
            values = {str(outputs[a].get("value")) for a in arms if isinstance(outputs.get(a), dict)}
            rows.append({"sample": sample, "outputs": outputs,
                         "disagree": len(passed - {None}) > 1 or (passed == {None} and len(values) > 1)})
        tables.append({"suite": suite_name, "arms": arms, "rows": rows, "total": len(samples)})
    return tables


def build_context(comparison: Comparison | dict[str, Any]) -> dict[str, Any]:
    """Everything the template needs, computed from a comparison's JSON document.

    The page is drawn from the document (strings cleaned for display), so a typed comparison is
    dumped first; a raw dict is drawn as it is, defensively, whatever its shape.
    """
    comparison = deep_clean(comparison.to_doc() if isinstance(comparison, Comparison) else comparison)
    arms = [a for a in comparison.get("arms") or [] if isinstance(a, dict)]
    arm_names = [str(a.get("name")) for a in arms]
    reference = next((a.get("name") for a in arms if a.get("role") == "reference"), None)
    suites = [s for s in comparison.get("suites") or [] if isinstance(s, dict)]
    comparison["suites"] = suites
    metadata = comparison.get("metadata") or {}
    notices = list(metadata.get("notices") or [])
    for suite in suites:
        if suite.get("skipped"):
            message = f"{suite.get('name')}: {suite.get('skipped')}"
            if suite.get("skipped") not in notices and message not in notices:
                notices.append(message)
    figures = charts.all_figures(comparison)
    flat = [f for group in figures.values() for f in group]
    return {
        "c": comparison,
        "title": comparison.get("name") or "evalkit comparison",
        "arms": arms,
        "arm_colours": charts.arm_colours(comparison),
        "reference": reference,
        "candidates": [a for a in arms if a.get("role") != "reference"],
        "suites": suites,
        "verdicts": _verdict_rows(comparison, reference),
        "notices": notices,
        "gate": comparison.get("gate"),
        "forgetting": [f for f in comparison.get("forgetting") or [] if isinstance(f, dict)],
        "prompt_only": [p for p in comparison.get("prompt_only") or [] if isinstance(p, dict)],
        "comparison_sequential": _dict_or_none(comparison.get("sequential")),
        "checkpoints": [c for c in comparison.get("checkpoints") or [] if isinstance(c, dict)],
        "history": [h for h in comparison.get("history") or [] if isinstance(h, dict)],
        "figures": figures,
        "score_figures": {f["title"]: f for f in figures["scores"]},
        "figure_count": len(flat),
        "figures_json": json_for_script([{"id": f["id"], "figure": f["figure"]} for f in flat]),
        "flips": _flip_context(comparison),
        "samples": _sample_tables(comparison, arm_names),
        "metadata": metadata,
        "finite": finite,
        "PREVIEW_CHARS": PREVIEW_CHARS,
    }


def _dict_or_none(value: Any) -> dict | None:
    return value if isinstance(value, dict) else None


def render_html(comparison: Comparison | dict[str, Any]) -> str:
    """Render the report page for ``comparison`` and return it as a string."""
    context = build_context(comparison)
    context["plotly_js"] = _plotly_js()
    return _environment().get_template("report.html.j2").render(**context)


def render_report(comparison: Comparison | dict[str, Any], out_dir: Path) -> Path:
    """Write the self-contained report to ``out_dir/index.html`` and return its path.

    ``comparison`` is the typed comparison, or the dict stored in a ``comparison.json``.
    The page needs no network: open it straight from disk.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Atomic: a failed write (full disk) keeps the previous good report instead of a truncated one.
    return write_text_atomic(out_dir / "index.html", render_html(comparison))
