"""Paired statistics for comparing a candidate model (``b``) with a reference (``a``).

Every function takes per-sample values aligned by sample id.  ``delta`` always means
``mean(b) - mean(a)``.  Missing values (``None``/NaN) are excluded pairwise: a sample
is used only when every arm has a value (see :func:`align_pairs`).  All resampling is
seeded with ``numpy.random.default_rng(seed)`` and is therefore reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from evalkit.compare.distributions import binom_cdf
from evalkit.compare.power import minimum_detectable_effect, required_sample_size

__all__ = [
    "McNemarResult", "PairedResult", "RatioResult", "align_pairs", "bootstrap_mean_ci",
    "compare_paired", "holm_correction", "mcnemar_exact", "minimum_detectable_effect",
    "paired_bootstrap_ci", "paired_permutation_test", "ratio_ci", "required_sample_size",
    "wilcoxon_signed_rank",
]

Values = Sequence[float | None]  # per-sample scores aligned by sample id; None/NaN = missing

_MAX_CHUNK_ELEMENTS = 2_000_000  # bounds memory of one resampling chunk (~16 MB per array)
_MAX_EXACT_FLIPS = 16  # exact sign-flip enumeration up to 2**16 patterns


def align_pairs(*arms: Values) -> tuple[list[np.ndarray], int]:
    """Return the arms restricted to samples present in all of them, and how many were dropped.

    Values may be numbers, booleans, ``None`` or NaN.  Raises ``ValueError`` for empty
    input, unequal lengths, infinite values, or when no sample has a value in every arm.

    >>> arms, excluded = align_pairs([1.0, None, 3.0], [2.0, 5.0, float("nan")])
    >>> [a.tolist() for a in arms], excluded
    ([[1.0], [2.0]], 2)
    """
    arrays = [np.asarray(arm, dtype=float).reshape(-1) for arm in arms]
    n_total = arrays[0].size
    if n_total == 0:
        raise ValueError("empty input: need at least one paired sample")
    if any(arr.size != n_total for arr in arrays):
        raise ValueError(f"paired arms must have equal length, got {[arr.size for arr in arrays]}")
    keep = ~np.any([np.isnan(arr) for arr in arrays], axis=0)
    if not keep.any():
        raise ValueError(f"no complete pairs: all {n_total} samples are missing a value in some arm")
    arrays = [arr[keep] for arr in arrays]
    if not all(np.isfinite(arr).all() for arr in arrays):
        raise ValueError("infinite values are not allowed in per-sample scores")
    return arrays, int(n_total - keep.sum())


def _check_confidence(confidence: float, n_resamples: int) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")


def _index_chunks(n: int, n_resamples: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield bootstrap index matrices of shape (chunk, n) totalling ``n_resamples`` rows.

    The chunk size depends only on ``n``, so every caller with the same seed and ``n``
    sees the same resamples (e.g. :func:`ratio_ci` and :func:`paired_bootstrap_ci`).
    """
    chunk = max(1, _MAX_CHUNK_ELEMENTS // n)
    for start in range(0, n_resamples, chunk):
        yield rng.integers(0, n, size=(min(chunk, n_resamples - start), n))


def _bootstrap_means(values: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """Bootstrap distribution of the means of each row of ``values`` (shape (k, n)).

    All rows are resampled with the same indices, so paired structure is kept.
    Returns shape (k, n_resamples).
    """
    rng = np.random.default_rng(seed)
    parts = [values[:, idx].mean(axis=-1) for idx in _index_chunks(values.shape[1], n_resamples, rng)]
    return np.concatenate(parts, axis=-1)


def _percentile_interval(dist: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(dist, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_mean_ci(
    x: Values, *, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of one arm with a percentile bootstrap CI: ``(mean, low, high)``; NaN/None ignored.

    >>> m, lo, hi = bootstrap_mean_ci([0, 1, 1, 1], n_resamples=500)
    >>> m, 0.0 <= lo <= m <= hi <= 1.0
    (0.75, True)
    """
    _check_confidence(confidence, n_resamples)
    (arr,), _ = align_pairs(x)
    dist = _bootstrap_means(arr[None, :], n_resamples, seed)[0]
    return (float(arr.mean()), *_percentile_interval(dist, confidence))


def paired_bootstrap_ci(
    a: Values, b: Values, *, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """``(delta, low, high)``: ``delta = mean(b) - mean(a)`` with a paired percentile bootstrap CI.

    Each resample draws sample indices with replacement and applies the same indices
    to both arms, so per-sample difficulty cancels out.  With 4 samples where the
    candidate fixes one failure, delta is +0.25 and the CI spans the resampled deltas:

    >>> d, lo, hi = paired_bootstrap_ci([1, 0, 0, 1], [1, 1, 0, 1], n_resamples=500)
    >>> d, lo, hi
    (0.25, 0.0, 0.75)
    """
    _check_confidence(confidence, n_resamples)
    (a_arr, b_arr), _ = align_pairs(a, b)
    dist = _bootstrap_means((b_arr - a_arr)[None, :], n_resamples, seed)[0]
    return (float(b_arr.mean() - a_arr.mean()), *_percentile_interval(dist, confidence))


@dataclass(frozen=True)
class McNemarResult:
    """Discordant-pair counts and the exact McNemar p-value."""

    b01: int  # reference fail -> candidate pass
    b10: int  # reference pass -> candidate fail
    p_value: float


def _as_bool_pairs(a_pass: Sequence, b_pass: Sequence) -> tuple[np.ndarray, np.ndarray, int]:
    (a_arr, b_arr), excluded = align_pairs(a_pass, b_pass)
    if not np.isin(np.concatenate([a_arr, b_arr]), (0.0, 1.0)).all():
        raise ValueError("pass/fail values must be booleans or 0/1")
    return a_arr.astype(bool), b_arr.astype(bool), excluded


def mcnemar_exact(a_pass: Sequence[bool | None], b_pass: Sequence[bool | None]) -> McNemarResult:
    """Exact two-sided McNemar test: a binomial(b01 + b10, 1/2) test on the discordant pairs.

    ``p = min(1, 2 * P[Binom(b01 + b10, 1/2) <= min(b01, b10)])``; ``p = 1.0`` when no pair
    is discordant.  Concordant pairs carry no information about which arm is better.

    >>> mcnemar_exact([0, 0, 0, 0, 0, 1], [1, 1, 1, 1, 1, 1])
    McNemarResult(b01=5, b10=0, p_value=0.0625)
    """
    a_arr, b_arr, _ = _as_bool_pairs(a_pass, b_pass)
    b01 = int(np.sum(~a_arr & b_arr))
    b10 = int(np.sum(a_arr & ~b_arr))
    n_disc = b01 + b10
    if n_disc == 0:
        return McNemarResult(b01, b10, 1.0)
    p = min(1.0, 2.0 * float(binom_cdf(min(b01, b10), n_disc, 0.5)))
    return McNemarResult(b01, b10, p)


def paired_permutation_test(
    a: Values, b: Values, *, n_resamples: int = 10000, seed: int = 0
) -> float:
    """Two-sided sign-flip permutation p-value for ``mean(b) - mean(a) == 0``.

    Under the null each paired difference is equally likely to have either sign.
    The p-value is the share of sign patterns whose ``|sum|`` is at least the observed
    one.  Zero differences are unaffected by flipping and are left out of the
    enumeration.  With at most 16 non-zero differences all ``2**m`` patterns are
    enumerated (exact); otherwise ``n_resamples`` random patterns are drawn and
    ``p = (hits + 1) / (n_resamples + 1)`` (never 0, valid for Monte Carlo).

    >>> paired_permutation_test([0, 0, 0, 0], [1, 2, 3, 4])  # 2 of 16 patterns as extreme
    0.125
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    (a_arr, b_arr), _ = align_pairs(a, b)
    diffs = (b_arr - a_arr)[b_arr != a_arr]
    if diffs.size == 0:
        return 1.0
    threshold = abs(diffs.sum()) - 1e-9 * np.abs(diffs).sum()  # tolerate float summation noise
    if diffs.size <= _MAX_EXACT_FLIPS:
        return _exact_flip_p(diffs, threshold)
    return _monte_carlo_flip_p(diffs, threshold, n_resamples, np.random.default_rng(seed))


def _exact_flip_p(diffs: np.ndarray, threshold: float) -> float:
    """Share of all ``2**m`` sign patterns with ``|sum| >= threshold``."""
    keep = np.arange(2 ** diffs.size)[:, None] >> np.arange(diffs.size) & 1
    return float(np.mean(_flip_sums(keep, diffs) >= threshold))


def _monte_carlo_flip_p(
    diffs: np.ndarray, threshold: float, n_resamples: int, rng: np.random.Generator
) -> float:
    """``(hits + 1) / (n_resamples + 1)`` over random sign patterns, in memory-bounded chunks."""
    chunk = max(1, _MAX_CHUNK_ELEMENTS // diffs.size)
    hits = 0
    for start in range(0, n_resamples, chunk):
        keep = _random_bits(min(chunk, n_resamples - start), diffs.size, rng)
        hits += int(np.count_nonzero(_flip_sums(keep, diffs) >= threshold))
    return (hits + 1) / (n_resamples + 1)


def _random_bits(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """A (rows, cols) matrix of independent fair 0/1 bits (8x faster than ``rng.integers``)."""
    raw = np.frombuffer(rng.bytes(rows * ((cols + 7) // 8)), dtype=np.uint8).reshape(rows, -1)
    return np.unpackbits(raw, axis=1, count=cols)


def _flip_sums(keep: np.ndarray, diffs: np.ndarray) -> np.ndarray:
    """``|sum(s * diffs)|`` per row of ``keep``, where s = +1 where keep is 1 and -1 where it is 0."""
    return np.abs(2.0 * (keep.astype(float) @ diffs) - diffs.sum())


def wilcoxon_signed_rank(a: Values, b: Values) -> float:
    """Two-sided Wilcoxon signed-rank p-value (``scipy.stats.wilcoxon``, zero_method="wilcox").

    Zero differences are discarded; if every difference is zero the p-value is 1.0.
    """
    (a_arr, b_arr), _ = align_pairs(a, b)
    diffs = b_arr - a_arr
    if not np.any(diffs):
        return 1.0
    from scipy import stats as sps  # scipy.stats is slow to import and only this test needs it

    return float(sps.wilcoxon(diffs, zero_method="wilcox").pvalue)


def holm_correction(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values, in the input order.

    Sorted ascending, the i-th smallest (0-based) becomes ``(m - i) * p``, made
    non-decreasing by a running maximum and capped at 1.

    >>> [round(p, 4) for p in holm_correction([0.01, 0.04, 0.03])]
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=float).reshape(-1)
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError("p-values must be numbers in [0, 1]")
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (p.size - np.arange(p.size)) * p[order])
    adjusted = np.empty_like(p)
    adjusted[order] = np.maximum.accumulate(scaled)
    return [float(v) for v in adjusted]


@dataclass(frozen=True)
class RatioResult:
    """Share of the tuned model's gain over base that the prompt-only arm recovers.

    ``ratio = gain_prompt / gain_tuned`` with a percentile CI (``low``, ``high``).  When
    ``defined`` is False the tuned gain is not clearly positive, ``ratio``/``low``/``high``
    are NaN and ``reason`` says why.  ``n_dropped_resamples`` counts bootstrap resamples
    whose tuned gain was <= 0; they are left out of the ratio's CI (see :func:`ratio_ci`).
    """

    ratio: float
    low: float
    high: float
    gain_tuned: float
    gain_prompt: float
    defined: bool
    reason: str | None
    tuned_gain_ci: tuple[float, float]
    n: int
    n_excluded: int
    n_dropped_resamples: int


def ratio_ci(
    base: Values, prompt: Values, tuned: Values, *,
    confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0,
) -> RatioResult:
    """Fraction of the fine-tuning gain recovered by prompting alone, with a joint paired bootstrap CI.

    ``ratio = (mean(prompt) - mean(base)) / (mean(tuned) - mean(base))``: 1.0 means the
    prompt-only arm matches the tuned model, 0.0 means prompting adds nothing, values
    above 1 or below 0 are possible.  Samples are resampled jointly across the three
    arms.  The ratio is reported only when the tuned gain is clearly positive (the
    lower end of its own bootstrap CI, from the same resamples, is above 0); otherwise
    ``defined=False``.  Resamples whose tuned gain is <= 0 would put the ratio's
    denominator at or across zero (undefined or sign-flipped), so they are dropped and
    counted in ``n_dropped_resamples``; this is rare (below ``(1 - confidence) / 2`` of
    resamples) whenever the ratio is defined.

    Example: tuning adds 0.4 and the prompt recovers 0.2 of it, i.e. half:

    >>> r = ratio_ci([0.0] * 10, [0.0, 0.4] * 5, [0.0, 0.8] * 5, n_resamples=200)
    >>> r.defined, round(r.ratio, 3), round(r.gain_tuned, 3), round(r.gain_prompt, 3)
    (True, 0.5, 0.4, 0.2)
    """
    _check_confidence(confidence, n_resamples)
    (base_arr, prompt_arr, tuned_arr), excluded = align_pairs(base, prompt, tuned)
    gain_tuned = float(tuned_arr.mean() - base_arr.mean())
    gain_prompt = float(prompt_arr.mean() - base_arr.mean())
    dist = _bootstrap_means(np.stack([tuned_arr - base_arr, prompt_arr - base_arr]), n_resamples, seed)
    tuned_ci = _percentile_interval(dist[0], confidence)
    common = dict(gain_tuned=gain_tuned, gain_prompt=gain_prompt, tuned_gain_ci=tuned_ci,
                  n=int(base_arr.size), n_excluded=excluded)
    if gain_tuned <= 0 or tuned_ci[0] <= 0:
        reason = (f"tuned gain {gain_tuned:+.4g} is not clearly positive ({confidence:.0%} CI "
                  f"[{tuned_ci[0]:+.4g}, {tuned_ci[1]:+.4g}]); the share recovered by prompting is undefined")
        return RatioResult(math.nan, math.nan, math.nan, defined=False, reason=reason,
                           n_dropped_resamples=0, **common)
    usable = dist[0] > 0
    low, high = _percentile_interval(dist[1, usable] / dist[0, usable], confidence)
    return RatioResult(gain_prompt / gain_tuned, low, high, defined=True, reason=None,
                       n_dropped_resamples=int(np.count_nonzero(~usable)), **common)


@dataclass(frozen=True)
class PairedResult:
    """Everything a report needs about one paired metric comparison (candidate ``b`` vs reference ``a``).

    ``test`` is ``"mcnemar_exact"`` (pass/fail) or ``"paired_permutation"`` (continuous);
    ``b01``/``b10`` are the discordant counts for pass/fail metrics.  ``mde`` is the
    minimum detectable effect at this ``n`` (alpha = 1 - confidence, power 0.8),
    estimated from the observed spread; NaN when it cannot be estimated.
    """

    delta: float
    ci_low: float
    ci_high: float
    confidence: float
    p_value: float
    test: str
    n: int
    n_excluded: int
    mde: float
    mean_a: float
    mean_b: float
    b01: int | None = None
    b10: int | None = None

    @property
    def ci(self) -> tuple[float, float]:
        """The ``(low, high)`` confidence interval of ``delta``."""
        return (self.ci_low, self.ci_high)


def _observed_mde(a_arr: np.ndarray, b_arr: np.ndarray, binary: bool, alpha: float) -> float:
    """MDE at the observed n, plugging in the observed discordant rate or SD of differences."""
    n, diffs = a_arr.size, b_arr - a_arr
    if not binary:
        if n < 2:
            return math.nan  # the SD of the differences is not estimable from one pair
        return minimum_detectable_effect(n, sd_diff=float(np.std(diffs, ddof=1)), alpha=alpha)
    discordant = float(np.mean(diffs != 0))
    if discordant > 0:
        return minimum_detectable_effect(n, discordant_rate=discordant, alpha=alpha)
    baseline = float(a_arr.mean())
    return minimum_detectable_effect(n, baseline_rate=baseline, alpha=alpha) if 0 < baseline < 1 else math.nan


def compare_paired(
    a: Values, b: Values, *, binary: bool, confidence: float = 0.95,
    n_resamples: int = 2000, seed: int = 0, permutation_resamples: int = 10000,
) -> PairedResult:
    """Compare candidate ``b`` with reference ``a`` on one metric: delta, CI, p-value and MDE.

    The CI is :func:`paired_bootstrap_ci`; the p-value is :func:`mcnemar_exact` when
    ``binary`` (values must be booleans or 0/1) and :func:`paired_permutation_test`
    otherwise.  For pass/fail the MDE uses the observed discordant rate (falling back to
    the reference pass rate when no pair is discordant).

    >>> r = compare_paired([0, 0, 1, 1], [1, 1, 1, 1], binary=True)
    >>> r.delta, r.test, r.b01, r.b10, r.p_value
    (0.5, 'mcnemar_exact', 2, 0, 0.5)
    """
    (a_arr, b_arr), excluded = align_pairs(a, b)
    delta, low, high = paired_bootstrap_ci(a_arr, b_arr, confidence=confidence,
                                           n_resamples=n_resamples, seed=seed)
    counts: dict[str, int] = {}
    if binary:
        mc = mcnemar_exact(a_arr, b_arr)
        p_value, test, counts = mc.p_value, "mcnemar_exact", {"b01": mc.b01, "b10": mc.b10}
    else:
        p_value = paired_permutation_test(a_arr, b_arr, n_resamples=permutation_resamples, seed=seed)
        test = "paired_permutation"
    return PairedResult(
        delta=delta, ci_low=low, ci_high=high, confidence=confidence, p_value=p_value, test=test,
        n=int(a_arr.size), n_excluded=excluded, mde=_observed_mde(a_arr, b_arr, binary, 1 - confidence),
        mean_a=float(a_arr.mean()), mean_b=float(b_arr.mean()), **counts,
    )
