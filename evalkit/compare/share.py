"""Would a system prompt have been enough?  The share of the tuned gain a prompt recovers.

``share = gain_prompt / gain_tuned`` with both gains paired on the same items against the base.
The interval is Fieller's (1954): the set of ratios ``r`` whose linear contrast
``gain_prompt - r * gain_tuned`` is not significantly different from zero, using the
cluster-robust covariance of the two gains.  Unlike a bootstrap of the ratio it needs no
resamples to be dropped when the denominator crosses zero: when the tuned gain is not clearly
positive the interval is unbounded and the share is reported as undefined.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from evalkit.compare.distributions import norm_ppf, t_ppf

__all__ = ["DECISION_SHARE", "ShareResult", "prompt_share"]

DECISION_SHARE = 0.8  # "a prompt recovers most of the gain" threshold in the conclusions
_POWER_Z = float(norm_ppf(0.8))


@dataclass(frozen=True)
class ShareResult:
    """The prompt-only share with its Fieller interval and the items that would decide it."""

    defined: bool
    share: float | None
    low: float | None
    high: float | None
    gain_tuned: float
    gain_prompt: float
    tuned_gain_ci: tuple[float, float]
    n: int
    n_excluded: int
    n_clusters: int
    needed_n: int | None  # items for the interval to settle on one side of DECISION_SHARE (80% power)
    reason: str | None

    def to_dict(self) -> dict:
        """Plain-dict form (JSON-ready)."""
        return asdict(self)


def prompt_share(
    base: Mapping[str, float | None],
    prompt: Mapping[str, float | None],
    tuned: Mapping[str, float | None],
    *,
    clusters: Mapping[str, object] | None = None,
    confidence: float = 0.95,
) -> ShareResult:
    """Share of the tuned arm's gain over base that the prompt-only arm recovers (Fieller interval).

    >>> base = {f"q{i}": 0.0 for i in range(60)}
    >>> tuned = {**base, **{f"q{i}": 1.0 for i in range(30)}}
    >>> prompt = {**base, **{f"q{i}": 1.0 for i in range(15)}}
    >>> r = prompt_share(base, prompt, tuned)
    >>> r.defined, round(r.share, 2), r.low < 0.5 < r.high
    (True, 0.5, True)
    """
    ids = sorted(set(base) & set(prompt) & set(tuned))
    keep = [i for i in ids if all(_ok(m.get(i)) for m in (base, prompt, tuned))]
    n_all = len(set(base) | set(prompt) | set(tuned))
    if not keep:
        raise ValueError("no item has a score in all three arms")
    b = np.asarray([float(base[i]) for i in keep])
    gt = np.asarray([float(tuned[i]) for i in keep]) - b
    gp = np.asarray([float(prompt[i]) for i in keep]) - b
    labels = [clusters.get(i, ("item", i)) if clusters else ("item", i) for i in keep]
    index: dict = {}
    codes = np.asarray([index.setdefault(label, len(index)) for label in labels])
    groups, n = len(index), len(keep)
    mean_t, mean_p = float(gt.mean()), float(gp.mean())
    cov = _cluster_cov(np.stack([gt - mean_t, gp - mean_p]), codes, groups) / n**2
    v_tt, v_pp, v_pt = float(cov[0, 0]), float(cov[1, 1]), float(cov[0, 1])
    df = groups - 1 if groups < n else None
    q = 1 - (1 - confidence) / 2
    crit = float(norm_ppf(q) if df is None else t_ppf(q, max(df, 1)))
    se_t = math.sqrt(max(v_tt, 0.0))
    tuned_ci = (mean_t - crit * se_t, mean_t + crit * se_t)
    common = dict(gain_tuned=mean_t, gain_prompt=mean_p, tuned_gain_ci=tuned_ci, n=n,
                  n_excluded=n_all - n, n_clusters=groups)
    quad_a = mean_t**2 - crit**2 * v_tt
    if mean_t <= 0 or quad_a <= 0:
        reason = (f"tuned gain {mean_t:+.4g} is not clearly positive ({confidence:.0%} CI "
                  f"[{tuned_ci[0]:+.4g}, {tuned_ci[1]:+.4g}]); the share recovered by prompting is undefined")
        return ShareResult(False, None, None, None, needed_n=None, reason=reason, **common)
    quad_b = mean_p * mean_t - crit**2 * v_pt
    quad_c = mean_p**2 - crit**2 * v_pp
    disc = max(quad_b**2 - quad_a * quad_c, 0.0)
    low, high = float((quad_b - math.sqrt(disc)) / quad_a), float((quad_b + math.sqrt(disc)) / quad_a)
    share = mean_p / mean_t
    needed = _needed_to_decide(mean_p, mean_t, v_pp, v_pt, v_tt, n, crit)
    return ShareResult(True, share, min(low, share), max(high, share), needed_n=needed, reason=None, **common)


def _needed_to_decide(mean_p, mean_t, v_pp, v_pt, v_tt, n, crit) -> int | None:
    """Items for the test of share = DECISION_SHARE to reject with 80% power, if the estimates hold."""
    r = DECISION_SHARE
    contrast = mean_p - r * mean_t
    var = v_pp - 2 * r * v_pt + r * r * v_tt
    if abs(contrast) < 1e-12 or var <= 0:
        return None
    return max(int(math.ceil(n * ((crit + _POWER_Z) * math.sqrt(var) / abs(contrast)) ** 2)), 1)


def _cluster_cov(centred: np.ndarray, codes: np.ndarray, groups: int) -> np.ndarray:
    """Cluster-robust covariance of the sums of the rows of ``centred`` (CR1 small-sample factor)."""
    totals = np.stack([np.bincount(codes, weights=row, minlength=groups) for row in centred])
    factor = groups / (groups - 1) if groups > 1 else 1.0
    return factor * totals @ totals.T


def _ok(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))
