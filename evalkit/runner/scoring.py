"""Scoring a run's generations and summarising scores into metrics (no model needed)."""

from __future__ import annotations

import math
from collections.abc import Callable

from evalkit.suite.loader import Suite
from evalkit.types import Generation, Sample, Score


def score_samples(suite: Suite, generations: dict[str, Generation]) -> list[dict]:
    """Apply every scorer of the suite to every generated sample; one row per (sample, scorer)."""
    rows: list[dict] = []
    samples = [s for s in suite.samples if s.id in generations]
    for key, fn in suite.scorers.items():
        scores = _score_all(fn, samples, generations)
        for sample, score in zip(samples, scores):
            rows.append({"sample_id": sample.id, "scorer": key, **_score_dict(score)})
    return rows


def _score_all(fn: Callable, samples: list[Sample], generations: dict[str, Generation]) -> list[Score]:
    ok = [s for s in samples if generations[s.id].error is None]
    batch_fn = getattr(fn, "score_batch", None)
    computed: dict[str, Score] = {}
    if batch_fn is not None and ok:
        try:
            scores = list(batch_fn(ok, [generations[s.id] for s in ok]))
            if len(scores) != len(ok) or not all(isinstance(x, Score) for x in scores):
                raise TypeError(f"score_batch returned {len(scores)} results for {len(ok)} samples")
            computed = dict(zip((s.id for s in ok), scores))
        except Exception:  # noqa: BLE001 - a failing batch is retried sample by sample, so one bad output
            computed = {}  # cannot cost the others their scores
    for s in ok:
        if s.id not in computed:
            computed[s.id] = _safe_score(fn, s, generations[s.id])
    return [
        computed[s.id] if s.id in computed else Score.failed(f"generation failed: {generations[s.id].error}")
        for s in samples
    ]


def _safe_score(fn: Callable, sample: Sample, generation: Generation) -> Score:
    try:
        score = fn(sample, generation)
    except Exception as exc:  # noqa: BLE001 - a scorer bug must not lose the run; it is recorded per sample
        return Score.failed(f"scorer raised {type(exc).__name__}: {exc}")
    if not isinstance(score, Score):
        return Score.failed(f"scorer returned {type(score).__name__}, not a Score")
    return score


def _score_dict(score: Score) -> dict:
    return {
        "value": score.value,
        "passed": score.passed,
        "explanation": score.explanation,
        "error": score.error,
        "details": score.details,
    }


def summarise(score_rows: list[dict], scorer_keys: list[str]) -> dict[str, dict]:
    """Per scorer: mean value, pass rate, n, and errors (excluded from the mean, with the count stated)."""
    metrics = {}
    for key in scorer_keys:
        rows = [r for r in score_rows if r["scorer"] == key]
        values = [r["value"] for r in rows if r["error"] is None and r["value"] is not None]
        values = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
        passes = [r["passed"] for r in rows if r["error"] is None and r["passed"] is not None]
        errors = [r for r in rows if r["error"] is not None]
        metrics[key] = {
            "mean": sum(values) / len(values) if values else None,
            "pass_rate": sum(passes) / len(passes) if passes else None,
            # pass/fail only when every value is 0 or 1; partial credit (2 of 3 JSON fields) is continuous
            "binary": bool(passes) and len(passes) == len(values) and all(v in (0, 1) for v in values),
            "n": len(values),
            "errors": len(errors),
            "excluded_reason": _error_summary(errors),
        }
    return metrics


def _error_summary(errors: list[dict]) -> str | None:
    if not errors:
        return None
    first = errors[0]["error"]
    return f"{len(errors)} sample(s) excluded: {first}" + (" (and others)" if len(errors) > 1 else "")
