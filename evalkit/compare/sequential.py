"""Anytime-valid confidence sequences for a paired difference, and the stopping rule built on them.

A fixed-n interval is valid only for a sample size chosen in advance; looking after every round
and stopping when it looks decided inflates the error rate.  A *confidence sequence* is a
sequence of intervals that covers the true mean **at every sample size simultaneously** with
probability ``1 - alpha``, so a comparison may look after every round and stop whenever it likes.

The method is the hedged betting confidence sequence of Waudby-Smith & Ramdas (2024), "Estimating
means of bounded random variables by betting", JRSS-B 86(1):1-27, §4 (Theorem 3, with their
predictable plug-in bets, eq. 26, truncated at ``c = 1/2``).  Each observation is one cluster's
mean paired difference (one sample's difference when unclustered) mapped from [-1, 1] to [0, 1]:
for every candidate mean ``m`` one gambler bets that the data's mean is above ``m`` and another
that it is below, each with half the stake; ``m`` leaves the sequence once their combined wealth
reaches ``1 / alpha`` (a nonnegative martingale under ``m``, so Ville's inequality bounds the
chance that a true ``m`` ever leaves by ``alpha``).  Observations must arrive in an order fixed
before the data are seen (a seeded sample order), whole clusters at a time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["BettingConfidenceSequence", "SequentialDecision", "decide_suite"]

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
        self._log_up = np.zeros(_GRID)
        self._log_down = np.zeros(_GRID)
        self._alive = np.ones(_GRID, dtype=bool)

    def update(self, differences: Sequence[float]) -> None:
        """Add observations (each a difference in [-1, 1]) in their fixed order."""
        threshold = math.log(1 / self.alpha)
        log_half = math.log(0.5)
        for d in differences:
            if not -1.0 - 1e-12 <= d <= 1.0 + 1e-12:
                raise ValueError(f"a paired difference must lie in [-1, 1], got {d}")
            x = min(max((float(d) + 1.0) / 2.0, 0.0), 1.0)
            t = self.n + 1
            mean_prev = (0.5 + self._sum) / t
            var_prev = (0.25 + self._sq) / t
            lam = math.sqrt(2 * math.log(2 / self.alpha) / (var_prev * t * math.log(1 + t)))
            m = self._grid
            with np.errstate(divide="ignore"):
                lam_up = np.minimum(lam, _TRUNCATION / np.maximum(m, 1e-12))
                lam_down = np.minimum(lam, _TRUNCATION / np.maximum(1 - m, 1e-12))
            self._log_up += np.log1p(lam_up * (x - m))
            self._log_down += np.log1p(-lam_down * (x - m))
            bet = min(lam, 2 * _TRUNCATION)
            self._log_null_up += math.log1p(bet * (x - 0.5))
            self._log_null_down += math.log1p(-bet * (x - 0.5))
            null = float(np.logaddexp(self._log_null_up + log_half, self._log_null_down + log_half))
            self._max_log_null = max(self._max_log_null, null)
            hedged = np.logaddexp(self._log_up + log_half, self._log_down + log_half)
            self._alive &= hedged < threshold  # the running intersection: once out, out for good
            self.n = t
            self._sum += x
            self._sq += (x - mean_prev) ** 2

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
class SequentialDecision:
    """Whether a suite's sequence has settled its verdict relative to the gate, and why."""

    settled: bool
    reason: str  # "improvement shown", "regression shown", "forgetting ruled out", "exhausted", "undecided"
    low: float
    high: float


def decide_suite(low: float, high: float, *, role: str, budget: float, exhausted: bool) -> SequentialDecision:
    """Stop rule for one suite given its confidence sequence ``[low, high]``.

    A task suite stops once an improvement (``low > 0``) or a regression (``high < 0``) is shown.
    A forgetting suite stops once a drop beyond ``budget`` is ruled out (``low > -budget``) or a
    regression is shown.  Any suite stops when it runs out of samples.
    """
    if role == "task":
        if low > 0:
            return SequentialDecision(True, "improvement shown", low, high)
        if high < 0:
            return SequentialDecision(True, "regression shown", low, high)
    else:
        if high < 0:
            return SequentialDecision(True, "regression shown", low, high)
        if low > -budget:
            return SequentialDecision(True, "forgetting ruled out", low, high)
    if exhausted:
        return SequentialDecision(True, "exhausted", low, high)
    return SequentialDecision(False, "undecided", low, high)
