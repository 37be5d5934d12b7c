"""The files of a comparison folder: comparison.json, the HTML report and the markdown summary."""

from __future__ import annotations

from pathlib import Path

from evalkit.runner.store import write_json_atomic, write_text_atomic


def write_outputs(comparison: dict, out: Path) -> None:
    """comparison.json, the HTML report, the markdown summary (and nothing else)."""
    # Lazy: the renderers load jinja2 and plotly, which a compare needs only at the very end.
    from evalkit.report.html import render_report
    from evalkit.report.markdown import render_markdown_summary

    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "comparison.json", comparison)
    render_report(comparison, out)
    write_text_atomic(out / "summary.md", render_markdown_summary(comparison))
