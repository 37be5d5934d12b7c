"""The distribution functions the statistics need, computed with ``scipy.special`` alone.

``scipy.stats`` costs about 0.75 s to import on top of ``scipy.special`` (it
loads every distribution, ``scipy.optimize``'s linear programming, sparse
matrices, ...), which is most of what a fully cached ``evalkit compare`` pays.
These functions call the same special functions that ``scipy.stats``'
distributions call for the same quantities (``norm.ppf`` is ``ndtri``,
``t.ppf``/``t.cdf`` are ``stdtrit``/``stdtr``, the binomial tails are the
regularised incomplete beta function ``betainc``, ``beta.ppf`` is its inverse
``betaincinv``), so they agree with ``scipy.stats`` to the last bits or, for
binomial probabilities away from p = 1/2, within about 1e-12 relative;
``tests/compare/test_distributions.py`` checks them against it on grids.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["beta_ppf", "binom_cdf", "binom_largest_k_at_most", "binom_pmf", "binom_sf", "norm_ppf", "t_cdf",
           "t_ppf"]


def norm_ppf(q):
    """Standard normal quantile (``scipy.stats.norm.ppf``)."""
    return special.ndtri(q)


def t_ppf(q, df):
    """Student t quantile with ``df`` degrees of freedom (``scipy.stats.t.ppf``)."""
    return special.stdtrit(df, q)


def t_cdf(x, df):
    """Student t distribution function with ``df`` degrees of freedom (``scipy.stats.t.cdf``)."""
    return special.stdtr(df, x)


def beta_ppf(q, a, b):
    """Beta(a, b) quantile (``scipy.stats.beta.ppf``)."""
    return special.betaincinv(a, b, q)


def _binom_tail(k, n, p, *, upper: bool):
    """``P[Binomial(n, p) > k]`` when ``upper``, else ``P[... <= k]``, from the incomplete beta function."""
    k, n, p = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (k, n, p)))
    k = np.floor(k)
    inside = (k >= 0) & (k < n)
    a, b = np.where(inside, k + 1, 1.0), np.where(inside, n - k, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        tail = special.betainc(a, b, p) if upper else special.betainc(b, a, 1 - p)
    outside = (k < 0) if upper else (k >= n)  # where the tail is the whole distribution
    out = np.where(inside, tail, np.where(outside, 1.0, 0.0))
    return out if out.ndim else float(out)


def binom_cdf(k, n, p):
    """P[Binomial(n, p) <= k] for integer-valued ``k`` (``scipy.stats.binom.cdf``).

    ``P[X <= k] = I_{1-p}(n - k, k + 1)``, the regularised incomplete beta function; identical to
    ``scipy.stats`` at ``p = 1/2`` (the exact McNemar test), within ~1e-12 relative elsewhere.
    """
    return _binom_tail(k, n, p, upper=False)


def binom_sf(k, n, p):
    """P[Binomial(n, p) > k] for integer-valued ``k`` (``scipy.stats.binom.sf``): ``I_p(k + 1, n - k)``."""
    return _binom_tail(k, n, p, upper=True)


def binom_pmf(k, n, p):
    """P[Binomial(n, p) = k] (``scipy.stats.binom.pmf``), from its logarithm as ``binom.logpmf`` has it."""
    k, n, p = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (k, n, p)))
    inside = (k >= 0) & (k <= n) & (k == np.floor(k))
    kk = np.where(inside, k, 0.0)
    log_comb = -np.log1p(n) - special.betaln(n - kk + 1, kk + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_pmf = log_comb + special.xlogy(kk, p) + special.xlog1py(n - kk, -p)
    out = np.where(inside, np.exp(log_pmf), 0.0)
    return out if out.ndim else float(out)


def binom_largest_k_at_most(level: float, n, p):
    """Largest integer ``k`` with ``P[Binomial(n, p) <= k] <= level``, or -1 where even ``k = 0`` exceeds it.

    This is the rejection threshold of an exact binomial test: ``binom.ppf`` followed by a
    step down where the quantile's own tail is above ``level``. Found by bisection on ``k``
    (the tail is increasing in it), for every ``n`` of an array at once.
    """
    n = np.asarray(n, dtype=float)
    lo = np.full(n.shape, -1.0)  # invariant: cdf(lo) <= level (cdf(-1) = 0)
    hi = n.copy()  # invariant: cdf(hi) > level unless hi is the answer (cdf(n) = 1)
    hi_ok = binom_cdf(hi, n, p) <= level
    while np.any(hi - lo > 1):
        mid = np.floor((lo + hi) / 2)
        ok = binom_cdf(mid, n, p) <= level
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    out = np.where(hi_ok, n, lo)
    return out if out.ndim else float(out)
