"""Anytime-valid confidence sequences for a paired difference, and the stopping rule built on them.

A fixed-n interval is valid only for a sample size chosen in advance; looking after every round
and stopping when it looks decided inflates the error rate.  A *confidence sequence* is a
sequence of intervals that covers the true mean **at every sample size simultaneously** with
probability ``1 - alpha``, so a comparison may look after every round and stop whenever it likes.

The method is the hedged betting confidence sequence of Waudby-Smith & Ramdas (2024), "Estimating
means of bounded random variables by betting", JRSS-B 86(1):1-27, §4 (Theorem 3, predictable
plug-in bets truncated at ``c = 1/2``; the bets are tuned for half the suite's clusters, their
eq. for a target sample size, which any bet fixed before the data may be without losing
validity).  Each observation is one cluster's total paired difference over the largest cluster's
size (one sample's difference when unclustered), mapped from [-1, 1] to [0, 1]: for every
candidate mean ``m`` one gambler bets that the data's mean is above ``m`` and another that it is
below, each with half the stake; ``m`` leaves the sequence once their combined wealth reaches
``1 / alpha`` (a nonnegative martingale under ``m``, so Ville's inequality bounds the chance that
a true ``m`` ever leaves by ``alpha``).  Observations must arrive in an order fixed before the
data are seen (a seeded sample order), whole clusters at a time.

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
_TRUNCATION = 0.5


@dataclass
class BettingConfidenceSequence:
    """The running hedged-betting confidence sequence for the mean of paired differences in [-1, 1].

    >>> cs = BettingConfidenceSequence(alpha=0.05)
    >>> cs.update([0.0] * 400)
    >>> low, high = cs.interval()
    >>> -0.15 < low < 0 < high < 0.15
    True
    """

    alpha: float = 0.05
    horizon: int | None = None  # tune the bets for this many observations (None: for every n alike)
    _grid: np.ndarray = field(default_factory=lambda: np.linspace(0.0, 1.0, _GRID))
    _log_up: np.ndarray = field(init=False)
    _log_down: np.ndarray = field(init=False)
    _alive: np.ndarray = field(init=False)
    n: int = 0
    _sum: float = 0.0
    _sq: float = 0.0
    _log_null_up: float = 0.0  # the two gamblers' wealth against "no difference" (m = 1/2)
    _log_null_down: float = 0.0
    _max_log_null: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.horizon is not None and self.horizon < 1:
            raise ValueError(f"horizon must be at least 1, got {self.horizon}")
        self._log_up = np.zeros(_GRID)
        self._log_down = np.zeros(_GRID)
        self._alive = np.ones(_GRID, dtype=bool)

    def update(self, differences: Sequence[float]) -> None:
        """Add observations (each a difference in [-1, 1]) in their fixed order."""
        values = np.asarray(differences, dtype=float).reshape(-1)
        if values.size == 0:
            return
        bad = values[(values < -1.0 - 1e-12) | (values > 1.0 + 1e-12) | np.isnan(values)]
        if bad.size:
            raise ValueError(f"a paired difference must lie in [-1, 1], got {bad[0]}")
        xs = np.clip((values + 1.0) / 2.0, 0.0, 1.0)
        lams = np.empty(xs.size)
        for i, x in enumerate(xs):  # the bets: predictable, from the observations before each one
            t = self.n + 1
            mean_prev = (0.5 + self._sum) / t
            var_prev = (0.25 + self._sq) / t
            spread = self.horizon if self.horizon else t * math.log(1 + t)
            lams[i] = math.sqrt(2 * math.log(2 / self.alpha) / (var_prev * spread))
            self.n = t
            self._sum += float(x)
            self._sq += (float(x) - mean_prev) ** 2
        m = self._grid[None, :]
        lam = lams[:, None]
        with np.errstate(divide="ignore"):
            lam_up = np.minimum(lam, _TRUNCATION / np.maximum(m, 1e-12))
            lam_down = np.minimum(lam, _TRUNCATION / np.maximum(1 - m, 1e-12))
        step = xs[:, None] - m
        log_up = self._log_up + np.cumsum(np.log1p(lam_up * step), axis=0)
        log_down = self._log_down + np.cumsum(np.log1p(-lam_down * step), axis=0)
        hedged = np.logaddexp(log_up, log_down) + math.log(0.5)
        # the running intersection: a mean that left the sequence after any observation stays out
        self._alive &= hedged.max(axis=0) < math.log(1 / self.alpha)
        self._log_up, self._log_down = log_up[-1], log_down[-1]
        bets = np.minimum(lams, 2 * _TRUNCATION)
        null_up = self._log_null_up + np.cumsum(np.log1p(bets * (xs - 0.5)))
        null_down = self._log_null_down + np.cumsum(np.log1p(-bets * (xs - 0.5)))
        null = np.logaddexp(null_up, null_down) + math.log(0.5)
        self._max_log_null = max(self._max_log_null, float(null.max()))
        self._log_null_up, self._log_null_down = float(null_up[-1]), float(null_down[-1])

    @property
    def p_value(self) -> float:
        """Anytime-valid p-value of "no difference": ``min(1, 1 / the largest wealth reached against it)``."""
        return float(min(1.0, math.exp(-self._max_log_null)))

    def interval(self) -> tuple[float, float]:
        """The current interval for the mean difference (on [-1, 1]); the whole range before any data."""
        if not self._alive.any():  # only possible through rounding at the grid's resolution
            centre = 2 * ((0.5 + self._sum) / (self.n + 1)) - 1
            return centre, centre
        alive = self._grid[self._alive]
        step = 1.0 / (_GRID - 1)
        low, high = max(alive[0] - step, 0.0), min(alive[-1] + step, 1.0)
        return float(2 * low - 1), float(2 * high - 1)


@dataclass(frozen=True)
class ClusterDesign:
    """A suite's clusters as the sequence sees them: how many, their mean and largest size.

    Each observation is a cluster's *total* paired difference divided by the largest cluster's
    size (so it lies in [-1, 1]); its mean is the per-sample mean difference times
    ``mean_size / max_size``, known from the suite's design.  Scaling the interval back by
    ``max_size / mean_size`` gives an interval for the per-sample mean difference, the quantity
    the fixed-n analysis reports, whatever the cluster sizes (a mean of cluster means would
    weigh a 20-sample cluster like a single sample).
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
    def scale(self) -> float:
        """From the observations' mean to the per-sample mean difference."""
        return self.max_size / self.mean_size

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


def _scaled(cs: BettingConfidenceSequence, design: ClusterDesign) -> tuple[float, float]:
    low, high = cs.interval()
    return max(-1.0, low * design.scale), min(1.0, high * design.scale)


class PairedSequence:
    """One suite x candidate's sequential inference, fed a round of clusters' total differences at a time."""

    def __init__(self, design: ClusterDesign, levels: SequentialLevels) -> None:
        self.design, self.levels = design, levels
        self._early = BettingConfidenceSequence(alpha=levels.early, horizon=design.horizon)
        self._strict = BettingConfidenceSequence(alpha=levels.strict, horizon=design.horizon)

    @property
    def clusters(self) -> int:
        """Clusters observed so far."""
        return self._early.n

    def add(self, totals: Sequence[float]) -> None:
        """Observe the next clusters' total paired differences, in the suite's order."""
        observations = [t / self.design.max_size for t in totals]
        self._early.update(observations)
        self._strict.update(observations)

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
        low, high = _scaled(self._early, self.design)
        p_value = min(1.0, self._early.p_value * levels.alpha / levels.early)
        if final is not None:
            if max(low, final.low) <= min(high, final.high):
                low, high = max(low, final.low), min(high, final.high)
            else:  # both cannot cover; the fixed-n look is the one the final round is judged on
                low, high = final.low, final.high
            p_value = min(p_value, final.p_value * levels.alpha / levels.final)
        strict_low, strict_high = _scaled(self._strict, self.design)
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
    exhausted: bool, gated: bool = False, final: FinalLook | None = None,
) -> SequentialDecision:
    """The stop rule of :meth:`PairedSequence.decide` applied once, to every cluster total so far."""
    sequence = PairedSequence(design, levels)
    sequence.add(totals)
    return sequence.decide(role=role, budget=budget, exhausted=exhausted, gated=gated, final=final)
