"""CLI output that goes to a file or a CI log is laid out for 140 columns, not rich's 80."""

from __future__ import annotations

import io

from rich.table import Table

from evalkit.cli_support import LOG_WIDTH, _console


def test_piped_output_is_wide_unless_columns_says_otherwise(monkeypatch):
    monkeypatch.setattr("sys.stdout", io.StringIO())
    monkeypatch.delenv("COLUMNS", raising=False)
    console = _console(stderr=False)
    assert console.width == LOG_WIDTH == 140
    table = Table("suite", "metric", "base", "prompt_only", "support-triage-lora", "verdicts")
    table.add_row("support-triage", "triage_exact", "0.071", "0.275", "0.475",
                  "support-triage-lora improved (+0.404)")
    console.print(table)
    text = __import__("sys").stdout.getvalue()
    assert "support-triage-lora improved (+0.404)" in text and "…" not in text  # at 80 columns both break
    monkeypatch.setenv("COLUMNS", "100")
    assert _console(stderr=False).width == 100
