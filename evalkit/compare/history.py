"""Score history across nightly runs: one JSON line per (run, suite, arm)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from evalkit.compare.schema import Comparison, HistoryRow, Verdict, as_comparison, first_problem
from evalkit.errors import DataError
from evalkit.runner.store import append_text_atomic, dumps, read_jsonl_tolerant


def history_entries(comparison: Comparison | dict) -> list[dict]:
    """Rows to append for one comparison: each arm's score per suite, flagged when it regressed."""
    comparison = as_comparison(comparison)
    rows = []
    for suite in comparison.suites:
        verdicts = {d.arm: d.verdict for d in suite.deltas}
        for arm, score in suite.scores.items():
            if score.mean is None or arm.startswith("baseline:"):
                continue
            rows.append(
                {
                    "date": comparison.created,
                    "run": comparison.name,
                    "suite": suite.name,
                    "arm": arm,
                    "mean": score.mean,
                    "low": score.low,
                    "high": score.high,
                    "regression": verdicts.get(arm) == Verdict.REGRESSED,
                }
            )
    return rows


def append_history(path: str | Path, comparison: Comparison | dict) -> None:
    """Append this comparison's scores to the history file (JSONL; rewritten atomically, never torn)."""
    append_text_atomic(path, "".join(dumps(row) + "\n" for row in history_entries(comparison)))


def history_rows(path: str | Path) -> list[HistoryRow]:
    """All history rows, oldest first; a row that is not a history row is a clear error."""
    rows = []
    for number, row in enumerate(read_jsonl_tolerant(path), 1):
        try:
            rows.append(HistoryRow.model_validate(row, context={"lenient": True}))
        except ValidationError as exc:
            raise DataError(f"{path}: row {number} is not an evalkit history row: {first_problem(exc)}",
                            hint="give the file `evalkit compare --history` appends to") from None
    return sorted(rows, key=lambda r: r.date)
