"""Scoring a run's generations and summarising scores into metrics (no model needed)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from evalkit.runner import score_cache
from evalkit.runner.draw_values import has_draws, row_passes, row_values
from evalkit.suite.loader import Suite
from evalkit.types import Generation, Sample, Score


def score_samples(
    suite: Suite, generations: Mapping[Any, Generation], *, samples_per_item: int = 1, cache=None
) -> list[dict]:
    """Apply every scorer of the suite to every generation; one row per (sample, draw, scorer).

    ``generations`` maps any key (sample id, or (sample id, draw)) to generations;
    rows follow the suite's sample order, then draw order. With
    ``samples_per_item`` > 1 every row names its ``draw``. With a ``cache``,
    scorers that declare a cache identity take their scores from it where it
    has them (:mod:`evalkit.runner.score_cache`).
    """
    by_sample: dict[str, list[Generation]] = {}
    for generation in generations.values():
        by_sample.setdefault(generation.sample_id, []).append(generation)
    entries = [
        (sample, generation)
        for sample in suite.samples
        for generation in sorted(by_sample.get(sample.id, []), key=lambda g: g.draw)
    ]
    rows: list[dict] = []
    for key, fn in suite.scorers.items():
        scores = _cached_score_all(fn, entries, cache, key)
        for (sample, generation), score in zip(entries, scores):
            draw = {"draw": generation.draw} if samples_per_item > 1 else {}
            rows.append({"sample_id": sample.id, **draw, "scorer": key, **score.fields()})
    return rows


def _cached_score_all(
    fn: Callable, entries: list[tuple[Sample, Generation]], cache, name: str
) -> list[Score]:
    """:func:`_score_all`, with the entries the score cache holds answered from it (a hit calls nothing)."""
    scorer_identity = score_cache.identity(fn) if cache is not None else None
    if scorer_identity is None:
        return _score_all(fn, entries)
    keys = [score_cache.score_key(scorer_identity, s, g) if g.error is None else None for s, g in entries]
    hits = score_cache.lookup(cache, [k for k in keys if k is not None])
    missing = [i for i, k in enumerate(keys) if k not in hits]
    computed = dict(zip(missing, _score_all(fn, [entries[i] for i in missing]))) if missing else {}
    score_cache.store(cache, name, [(keys[i], s) for i, s in computed.items() if keys[i] is not None])
    return [hits[k] if i not in computed else computed[i] for i, k in enumerate(keys)]


def _score_all(fn: Callable, entries: list[tuple[Sample, Generation]]) -> list[Score]:
    ok = [i for i, (_, generation) in enumerate(entries) if generation.error is None]
    batch_fn = getattr(fn, "score_batch", None)
    computed: dict[int, Score] = {}
    if batch_fn is not None and ok:
        try:
            scores = list(batch_fn([entries[i][0] for i in ok], [entries[i][1] for i in ok]))
            if len(scores) != len(ok) or not all(isinstance(x, Score) for x in scores):
                raise TypeError(f"score_batch returned {len(scores)} results for {len(ok)} samples")
            computed = dict(zip(ok, scores))
        except Exception:  # noqa: BLE001 - a failing batch is retried sample by sample, so one bad output
            computed = {}  # cannot cost the others their scores
    for i in ok:
        if i not in computed:
            computed[i] = _safe_score(fn, *entries[i])
    return [
        computed[i] if i in computed else Score.failed(f"generation failed: {entries[i][1].error}")
        for i in range(len(entries))
    ]


def _safe_score(fn: Callable, sample: Sample, generation: Generation) -> Score:
    try:
        score = fn(sample, generation)
    except Exception as exc:  # noqa: BLE001 - a scorer bug must not lose the run; it is recorded per sample
        return Score.failed(f"scorer raised {type(exc).__name__}: {exc}")
    if not isinstance(score, Score):
        return Score.failed(f"scorer returned {type(score).__name__}, not a Score")
    return score


def summarise(
    score_rows: list[dict], scorer_keys: list[str], *, samples_per_item: int = 1
) -> dict[str, dict]:
    """Per scorer: mean value, pass rate, n, and errors (excluded from the mean, with the count stated).

    The mean is over items of each item's mean over its draws (its generation
    draws and, for a judge with ``samples: k``, its judge samples); the pass rate
    likewise over each item's share of passing draws; ``n`` counts items. With
    k = 1 and single judge verdicts every row is its own item, as always.
    """
    metrics = {}
    for key in scorer_keys:
        rows = [r for r in score_rows if r["scorer"] == key]
        items: dict[Any, tuple[list[float], list[bool]]] = {}
        for index, row in enumerate(rows):
            values, passes = items.setdefault(row["sample_id"] if samples_per_item > 1 else index, ([], []))
            values.extend(row_values(row))
            passes.extend(row_passes(row))
        values = [sum(v) / len(v) for v, _ in items.values() if v]
        passes = [sum(p) / len(p) for _, p in items.values() if p]
        errors = [r for r in rows if r["error"] is not None]
        single = samples_per_item == 1 and not any(has_draws(r) for r in rows)
        metrics[key] = {
            "mean": sum(values) / len(values) if values else None,
            "pass_rate": sum(passes) / len(passes) if passes else None,
            # pass/fail only when every value is 0 or 1; partial credit (2 of 3 JSON fields) is continuous,
            # and so is a mean over draws
            "binary": single
            and bool(passes)
            and len(passes) == len(values)
            and all(v in (0, 1) for v in values),
            "n": len(values),
            "errors": len(errors),
            "excluded_reason": _error_summary(errors),
            "samples_per_item": samples_per_item,
        }
    return metrics


def _error_summary(errors: list[dict]) -> str | None:
    if not errors:
        return None
    first = errors[0]["error"]
    return f"{len(errors)} sample(s) excluded: {first}" + (" (and others)" if len(errors) > 1 else "")
