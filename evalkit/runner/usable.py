"""Is a run usable? A suite on which too many samples failed has no result, and that is an error.

Failed samples (a served model that refused, timed out or answered garbage; a
scorer that could not score) are excluded from a score, never counted as 0.
That is right for a few, but when most or all samples fail the "score" is
either missing or rests on a handful of samples, and a command that exits 0
would be silently wrong. :func:`check_usable` decides, :class:`UnusableResults`
is the exit-2 error naming the suite, the arm and the most common reasons.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import EvalkitError, bounded
from evalkit.runner.store import read_jsonl_tolerant

#: More than this share of a suite's samples failing makes the suite unusable (``--max-failed-share``).
DEFAULT_MAX_FAILED_SHARE = 0.5
_SHOWN_REASONS = 3


@dataclass(frozen=True)
class Unusable:
    """One (suite, arm) without a usable result: how many samples failed, of how many, and why."""

    suite: str
    arm: str
    failed: int
    total: int
    reasons: list[tuple[str, int]]  # the most common per-sample errors, with their counts

    def record(self, max_failed_share: float) -> dict:
        """The entry of ``comparison.json``'s ``metadata.unusable``: suite, arm, counts and the message."""
        return {"suite": self.suite, "arm": self.arm, "failed": self.failed, "total": self.total,
                "message": self.describe(max_failed_share)}

    def describe(self, max_failed_share: float) -> str:
        """One line: ``suite · arm: 10 of 10 samples failed (...): 7x reason; 3x reason``."""
        share = f" (more than max_failed_share {max_failed_share:g})" if self.failed < self.total else ""
        if self.failed == 0:
            head = f"{self.suite} · {self.arm}: no sample produced a score"
        else:
            head = f"{self.suite} · {self.arm}: {self.failed} of {self.total} samples failed{share}"
        listed = "; ".join(f"{count}× {bounded(reason, 240)}" for reason, count in self.reasons)
        return f"{head}: {listed}" if listed else head


def check_usable(
    suite: str, arm: str, errors: list[str | None], values: list[float | None], max_failed_share: float
) -> Unusable | None:
    """None when the run is usable; else what is wrong. ``errors``/``values`` are per sample."""
    total = len(errors)
    failed = sum(1 for e in errors if e)
    scored = sum(1 for e, v in zip(errors, values) if not e and v is not None)
    if total and scored and failed / total <= max_failed_share:
        return None
    counts = Counter(e for e in errors if e).most_common(_SHOWN_REASONS)
    if not counts and not scored:
        counts = [("the scorer returned no value for any sample", total)]
    return Unusable(suite, arm, failed, total, counts)


def check_run_dir(run_dir: str | Path, metrics: dict, max_failed_share: float) -> Unusable | None:
    """:func:`check_usable` for a finished run directory (its primary metric's per-sample rows)."""
    primary = metrics["primary_metric"]
    rows = [r for r in read_jsonl_tolerant(Path(run_dir) / "scores.jsonl") if r.get("scorer") == primary]
    if not rows:  # lm-eval runs and the like: fall back on the metric's counts
        entry = metrics["metrics"].get(primary) or {}
        n, failed = int(entry.get("n") or 0), int(entry.get("errors") or 0)
        reason = entry.get("excluded_reason") or "sample failed"
        errors: list[str | None] = [reason] * failed + [None] * n
        values: list[float | None] = [None] * failed + [1.0] * n
    else:
        errors = [r.get("error") for r in rows]
        values = [r.get("value") for r in rows]
    return check_usable(metrics["suite"]["name"], metrics["arm"]["name"], errors, values, max_failed_share)


class UnusableResults(EvalkitError):
    """Some suite has no usable result for some arm (exit 2): the reasons, counted, in the message."""

    def __init__(self, problems: list[Unusable], max_failed_share: float, *, written: str | None = None):
        self.problems = problems
        lines = "\n".join(f"  {p.describe(max_failed_share)}" for p in problems)
        where = f"\nThe run files are written ({written})." if written else ""
        super().__init__(
            f"no usable result for {len(problems)} suite/arm pair(s); nothing can be concluded from them:\n"
            f"{lines}{where}",
            hint="fix the cause above (server URL, model name, scorer, data) and run the same command again "
            "(finished samples are kept; failed ones are retried); --max-failed-share sets how many "
            "failures a suite tolerates",
        )


def unusable_in_runs(runs: dict, max_failed_share: float) -> list[Unusable]:
    """Every (suite, arm) of a comparison's ``runs[suite][arm]`` (RunData) without a usable result."""
    out = []
    for suite, by_arm in runs.items():
        for arm, run in by_arm.items():
            samples = list(run.samples.values())
            errors = [s.error for s in samples]
            values = [s.value for s in samples]
            problem = check_usable(suite, arm, errors, values, max_failed_share)
            if problem is not None:
                out.append(problem)
    return out
