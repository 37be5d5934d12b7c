"""Anytime-valid confidence sequences for a paired difference, and the stopping rule built on them.

A fixed-n interval is valid only for a sample size chosen in advance; looking after every round
and stopping when it looks decided inflates the error rate.  A *confidence sequence* is a
sequence of intervals that covers the true mean **at every sample size simultaneously** with
probability ``1 - alpha``, so a comparison may look after every round and stop whenever it likes.

The method is the hedged betting confidence sequence of Waudby-Smith & Ramdas (2024), "Estimating
means of bounded random variables by betting", JRSS-B 86(1):1-27, §4 (Theorem 3, predictable
plug-in bets truncated at ``c = 3/4``, the larger of the paper's defaults; the bets are tuned for half
the suite's clusters, their eq. for a target sample size, which any bet fixed before the data may
be without losing validity).  Each observation is one cluster: its total paired difference ``T``
and its size ``S`` (one sample when unclustered).  For every candidate per-sample mean ``d`` one
gambler bets that ``T - d S`` is positive on average and another that it is negative, each with
half the stake; the increment has mean zero exactly when ``d = E[T] / E[S]`` (the pooled per-sample
mean, as the fixed-n analysis reports it), so unequal clusters cost no width; ``d`` leaves
the sequence once their combined wealth reaches ``1 / alpha`` (a nonnegative martingale under the
true ``d`` when clusters arrive in random order, so Ville's inequality bounds the chance that it
ever leaves by ``alpha``).  Observations must arrive in an order fixed before the data are seen (a
seeded sample order), whole clusters at a time.

A suite that runs out of samples gets a final look: the fixed-n paired interval (the one a
fixed-n compare reports) at the share of ``alpha`` the sequence did not use.  By the union bound
the reported interval covers the truth with probability ``1 - alpha`` whether the suite stopped
early or ran out, and the final look keeps nearly all of the fixed-n interval's width where
the sequence alone would be about 1.6 times as wide.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "BettingConfidenceSequence", "ClusterDesign", "FinalLook", "PairedSequence", "SequentialDecision",
    "SequentialLevels", "decide_suite",
]

_GRID = 4001  # candidate means on [0, 1]; resolution 0.05 points of the difference's scale
# The bets' cap, as a fraction of the largest bet that keeps the wealth positive (WSR suggest 1/2
# or 3/4; any value below 1 is valid). At 3/4 the simulated suites of docs/statistics.md decide on
# 10-20% fewer samples than at 1/2 with the same error rates; the cap must not depend on the next
# cluster's size (that would bet on E[T | S] = d S for every size, a stronger claim than E[T] = d E[S]).
TRUNCATION = 0.75


@dataclass
class BettingConfidenceSequence:
    """The running hedged-betting confidence sequence for a per-sample mean paired difference in [-1, 1].

    Observations are clusters: each one's total difference and size (one sample each when
    unclustered), with sizes at most ``max_size``.  For a candidate mean ``d`` the increment of
    cluster ``i`` is ``(total_i - d * size_i) / max_size``, whose expectation is zero exactly when
    ``d`` is the per-sample mean ``E[total] / E[size]`` (the ratio the fixed-n analysis estimates),
    whatever the sizes; it lies in ``[-(1 + d), 1 - d]``.

    >>> cs = BettingConfidenceSequence(alpha=0.05)
    >>> cs.update([0.0] * 400)
    >>> low, high = cs.interval()
    >>> -0.15 < low < 0 < high < 0.15
    True
    """

    alpha: float = 0.05
    horizon: int | None = None  # tune the bets for this many observations (None: for every n alike)
    max_size: int = 1  # the largest cluster the suite has
    mean_size: float = 1.0  # its mean cluster size (the prior for the bets' variance estimate)
    _grid: np.ndarray = field(default_factory=lambda: np.linspace(-1.0, 1.0, _GRID))
    _log_up: np.ndarray = field(init=False)
    _log_down: np.ndarray = field(init=False)
    _alive: np.ndarray = field(init=False)
    n: int = 0
    _sum_t: float = 0.0  # running sums of totals and sizes over max_size
    _sum_w: float = 0.0
    _sq: tuple[float, float, float] = (0.0, 0.0, 0.0)  # sums of a*a, a*b, b*b (see update)
    _max_log_null: float = 0.0  # the hedged wealth against "no difference" (d = 0), at its highest

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.horizon is not None and self.horizon < 1:
            raise ValueError(f"horizon must be at least 1, got {self.horizon}")
        if self.max_size < 1 or not 0 < self.mean_size <= self.max_size:
            raise ValueError(f"cluster sizes must satisfy 0 < mean_size <= max_size, got "
                             f"{self.mean_size} and {self.max_size}")
        self._log_up = np.zeros(_GRID)
        self._log_down = np.zeros(_GRID)
        self._alive = np.ones(_GRID, dtype=bool)
        self._zero = int(np.argmin(np.abs(self._grid)))

    def update(self, totals: Sequence[float], sizes: Sequence[int] | None = None) -> None:
        """Add clusters in their fixed order: each one's total difference and size (1 each if omitted).

        A total must lie in ``[-size, size]`` (each sample's difference in [-1, 1]).
        """
        values = np.asarray(totals, dtype=float).reshape(-1)
        if values.size == 0:
            return
        weights = np.ones(values.size) if sizes is None else np.asarray(sizes, dtype=float).reshape(-1)
        if weights.shape != values.shape:
            raise ValueError(f"{values.size} cluster totals but {weights.size} sizes")
        if (weights < 0).any() or (weights > self.max_size).any():
            raise ValueError(f"a cluster size must lie in [0, {self.max_size}], got {weights.max()}")
        bad = values[(np.abs(values) > weights + 1e-9) | np.isnan(values)]
        if bad.size:
            raise ValueError(f"a paired difference must lie in [-1, 1], got a cluster total of {bad[0]}")
        ts, ws = values / self.max_size, weights / self.max_size
        prior_w = self.mean_size / self.max_size
        # The bets are predictable: from the clusters before each one.  The variance of the increment
        # t - d w is estimated (WSR's sigma-hat, prior included) as (prior + A - 2 d B + d^2 C) / n with
        # a, b each cluster's deviation of t and w from the running means before it.
        moments = np.empty((values.size, 3))  # per cluster: (prior + A, B, C) / n, times the bets' spread
        for i, (t_i, w_i) in enumerate(zip(ts, ws)):
            k = self.n + 1
            aa, ab, bb = self._sq
            spread = self.horizon if self.horizon else k * math.log(1 + k)
            moments[i] = ((prior_w**2 + aa) / k * spread, ab / k * spread, bb / k * spread)
            a = float(t_i) - self._sum_t / k
            b = float(w_i) - (prior_w + self._sum_w) / k
            self.n, self._sum_t, self._sum_w = k, self._sum_t + float(t_i), self._sum_w + float(w_i)
            self._sq = (aa + a * a, ab + a * b, bb + b * b)
        d = self._grid[None, :]
        var = moments[:, :1] - 2 * d * moments[:, 1:2] + d * d * moments[:, 2:3]
        lam = np.sqrt(2 * math.log(2 / self.alpha) / np.maximum(var, 1e-12))
        lam_up = np.minimum(lam, TRUNCATION / np.maximum(1 + d, 1e-12))
        lam_down = np.minimum(lam, TRUNCATION / np.maximum(1 - d, 1e-12))
        step = ts[:, None] - d * ws[:, None]
        log_up = self._log_up + np.cumsum(np.log1p(lam_up * step), axis=0)
        log_down = self._log_down + np.cumsum(np.log1p(-lam_down * step), axis=0)
        hedged = np.logaddexp(log_up, log_down) + math.log(0.5)
        # the running intersection: a mean that left the sequence after any observation stays out
        self._alive &= hedged.max(axis=0) < math.log(1 / self.alpha)
        self._max_log_null = max(self._max_log_null, float(hedged[:, self._zero].max()))
        self._log_up, self._log_down = log_up[-1], log_down[-1]

    @property
    def p_value(self) -> float:
        """Anytime-valid p-value of "no difference": ``min(1, 1 / the largest wealth reached against it)``."""
        return float(min(1.0, math.exp(-self._max_log_null)))

    def interval(self) -> tuple[float, float]:
        """The current interval for the per-sample mean difference; the whole range before any data."""
        if not self._alive.any():  # only possible through rounding at the grid's resolution
            centre = self._sum_t / max(self._sum_w, 1e-12) if self.n else 0.0
            return centre, centre
        alive = self._grid[self._alive]
        step = 2.0 / (_GRID - 1)
        return float(max(alive[0] - step, -1.0)), float(min(alive[-1] + step, 1.0))


@dataclass(frozen=True)
class ClusterDesign:
    """A suite's clusters as the sequence sees them: how many, their mean and largest size.

    Each observation is a cluster's *total* paired difference with its size; the sequence is on
    the per-sample mean (total over size, pooled), the quantity the fixed-n analysis reports,
    whatever the cluster sizes (a mean of cluster means would weigh a 20-sample cluster like a
    single sample).  The largest size bounds each increment; the mean size is the prior of the
    bets' variance estimate.
    """

    n_clusters: int
    mean_size: float
    max_size: int

    @classmethod
    def from_sizes(cls, sizes: Sequence[int]) -> ClusterDesign:
        """The design of a suite whose clusters have these sizes (all ones when unclustered)."""
        if not sizes or min(sizes) < 1:
            raise ValueError("a suite needs at least one cluster, each with at least one sample")
        return cls(len(sizes), sum(sizes) / len(sizes), max(sizes))

    @property
    def horizon(self) -> int:
        """The observations the bets are tuned for: half the suite's clusters (docs/statistics.md)."""
        return max(1, self.n_clusters // 2)


@dataclass(frozen=True)
class SequentialLevels:
    """How a sequential compare spends its error rate ``alpha`` on one suite x candidate.

    The confidence sequence that decides early stops gets ``alpha * early_share``; the fixed-n
    interval of the final look (only when the suite ran out) gets the rest.  Their union bound
    keeps the reported interval's coverage at ``1 - alpha`` at whatever round the suite stopped.
    "Improvement shown" and "regression shown" are called at the early level divided over the
    comparison's ``family`` of tests, so Holm's correction over the family keeps them.
    """

    alpha: float = 0.05
    early_share: float = 0.2
    family: int = 1

    @property
    def early(self) -> float:
        """Level of the early-stopping confidence sequence (the interval while the suite runs)."""
        return self.alpha * self.early_share

    @property
    def final(self) -> float:
        """Level of the fixed-n interval at the final look."""
        return self.alpha - self.early

    @property
    def strict(self) -> float:
        """Level at which an improvement or a regression is shown early."""
        return self.early / max(1, self.family)


@dataclass(frozen=True)
class FinalLook:
    """The fixed-n analysis of a suite that ran out: its interval at ``levels.final`` and p-value."""

    low: float
    high: float
    p_value: float


@dataclass(frozen=True)
class SequentialDecision:
    """Whether a suite's sequence has settled its verdict relative to the gate, and why."""

    settled: bool
    reason: str  # see decide_suite
    low: float
    high: float
    p_value: float = 1.0


class PairedSequence:
    """One suite x candidate's sequential inference, fed a round of clusters' total differences at a time."""

    def __init__(self, design: ClusterDesign, levels: SequentialLevels) -> None:
        self.design, self.levels = design, levels
        sizes = {"horizon": design.horizon, "max_size": design.max_size, "mean_size": design.mean_size}
        self._early = BettingConfidenceSequence(alpha=levels.early, **sizes)
        self._strict = BettingConfidenceSequence(alpha=levels.strict, **sizes)

    @property
    def clusters(self) -> int:
        """Clusters observed so far."""
        return self._early.n

    def add(self, totals: Sequence[float], sizes: Sequence[int] | None = None) -> None:
        """Observe the next clusters' total paired differences and sizes (1 each if omitted), in order."""
        self._early.update(totals, sizes)
        self._strict.update(totals, sizes)

    def decide(self, *, role: str, budget: float, exhausted: bool, gated: bool = False,
               final: FinalLook | None = None) -> SequentialDecision:
        """Whether the suite's verdict is settled for this candidate, with the interval to report.

        The interval is the confidence sequence at ``levels.early`` (intersected, once the suite
        ran out, with the fixed-n ``final`` look); the p-value is the union of the sequence's
        anytime p-value and the final look's, each scaled by its share of ``alpha``.

        * task suites stop once an improvement or a regression is shown (at ``levels.strict``);
        * forgetting suites stop once a drop beyond ``budget`` is ruled out (lower end > -budget);
          judged for a gate (``gated``), also once a drop beyond the budget is shown (upper end
          < -budget), and not on a smaller significant drop, which leaves the gate's question
          open; without a gate, also once any regression is shown (at ``levels.strict``);
        * any suite stops when it runs out of samples.
        """
        levels = self.levels
        low, high = self._early.interval()
        p_value = min(1.0, self._early.p_value * levels.alpha / levels.early)
        if final is not None:
            if max(low, final.low) <= min(high, final.high):
                low, high = max(low, final.low), min(high, final.high)
            else:  # both cannot cover; the fixed-n look is the one the final round is judged on
                low, high = final.low, final.high
            p_value = min(p_value, final.p_value * levels.alpha / levels.final)
        strict_low, strict_high = self._strict.interval()
        reason = "undecided"
        if role == "task":
            reason = ("improvement shown" if strict_low > 0 else "regression shown" if strict_high < 0
                      else reason)
        elif low > -budget:
            reason = "forgetting ruled out"
        elif gated and high < -budget:
            reason = "drop beyond the budget shown"
        elif not gated and strict_high < 0:
            reason = "regression shown"
        if reason == "undecided" and exhausted:
            reason = "exhausted"
        elif final is not None and reason != "undecided":
            reason += " at the final look"
        return SequentialDecision(reason != "undecided", reason, low, high, min(1.0, p_value))


def decide_suite(
    totals: Sequence[float], design: ClusterDesign, levels: SequentialLevels, *, role: str, budget: float,
    exhausted: bool, gated: bool = False, final: FinalLook | None = None, sizes: Sequence[int] | None = None,
) -> SequentialDecision:
    """The stop rule of :meth:`PairedSequence.decide` applied once, to every cluster so far.

    ``sizes`` are the clusters' sizes in the same order (one sample each when omitted).
    """
    sequence = PairedSequence(design, levels)
    sequence.add(totals, sizes)
    return sequence.decide(role=role, budget=budget, exhausted=exhausted, gated=gated, final=final)
