"""The files of a comparison folder: comparison.json, the HTML report and the markdown summary."""

from __future__ import annotations

from pathlib import Path

from evalkit.compare.schema import Comparison, validate_written
from evalkit.runner.store import write_json_atomic, write_text_atomic


def write_outputs(comparison: dict | Comparison, out: Path) -> Comparison:
    """comparison.json, the HTML report, the markdown summary (and nothing else); returns it typed.

    This is where every comparison.json is written, so the document is validated here
    (:func:`~evalkit.compare.schema.validate_written`): a wrong shape fails before any file is written.
    """
    # Lazy: the renderers load jinja2 and plotly, which a compare needs only at the very end.
    from evalkit.report.html import render_report
    from evalkit.report.markdown import render_markdown_summary

    doc = validate_written(comparison)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "comparison.json", doc.to_doc())
    render_report(doc, out)
    write_text_atomic(out / "summary.md", render_markdown_summary(doc))
    return doc
