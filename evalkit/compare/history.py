"""Score history across nightly runs: one JSON line per (run, suite, arm)."""

from __future__ import annotations

from pathlib import Path

from evalkit.runner.store import append_text_atomic, dumps, read_jsonl_tolerant


def history_entries(comparison: dict) -> list[dict]:
    """Rows to append for one comparison: each arm's score per suite, flagged when it regressed."""
    date = comparison["created"]
    rows = []
    for suite in comparison["suites"]:
        verdicts = {d["arm"]: d["verdict"] for d in suite["deltas"]}
        for arm, score in suite["scores"].items():
            if score["mean"] is None or arm.startswith("baseline:"):
                continue
            rows.append(
                {
                    "date": date,
                    "run": comparison["name"],
                    "suite": suite["name"],
                    "arm": arm,
                    "mean": score["mean"],
                    "low": score["low"],
                    "high": score["high"],
                    "regression": verdicts.get(arm) == "regressed",
                }
            )
    return rows


def append_history(path: str | Path, comparison: dict) -> None:
    """Append this comparison's scores to the history file (JSONL; rewritten atomically, never torn)."""
    append_text_atomic(path, "".join(dumps(row) + "\n" for row in history_entries(comparison)))


def history_rows(path: str | Path) -> list[dict]:
    """All history rows, oldest first."""
    return sorted(read_jsonl_tolerant(path), key=lambda r: r["date"])
