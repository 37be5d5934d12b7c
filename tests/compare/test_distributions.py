"""The scipy.special-only distribution functions agree with the scipy.stats ones they replace."""

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as sps

from evalkit.compare import distributions as dist

QUANTILES = np.linspace(0.0005, 0.9995, 1999)


def test_normal_and_t_quantiles_and_t_distribution_function_equal_scipy_stats_bit_for_bit():
    assert np.array_equal(dist.norm_ppf(QUANTILES), sps.norm.ppf(QUANTILES))
    x = np.linspace(-9, 9, 721)
    for df in (1, 2, 3, 7, 30, 499, 10_000):
        assert np.array_equal(dist.t_ppf(QUANTILES, df), sps.t.ppf(QUANTILES, df)), df
        assert np.array_equal(dist.t_cdf(x, df), sps.t.cdf(x, df)), df


@pytest.mark.parametrize("n", [1, 2, 7, 50, 541, 5000])
def test_beta_quantile_equals_scipy_stats(n):
    for q in (0.5, 0.8, 0.9, 0.95, 0.99):
        assert dist.beta_ppf(q, 1, n) == sps.beta.ppf(q, 1, n)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 10, 57, 541, 2000])
def test_binomial_tails_and_mass_match_scipy_stats(n):
    k = np.arange(-2, n + 3)  # outside the support too
    for p in (0.0, 0.001, 0.3, 0.5, 0.77, 1.0):
        cdf, sf, pmf = dist.binom_cdf(k, n, p), dist.binom_sf(k, n, p), dist.binom_pmf(k, n, p)
        assert np.array_equal(sf, sps.binom.sf(k, n, p)), p
        if p == 0.5:  # the exact McNemar test's p-values: identical
            assert np.array_equal(cdf, sps.binom.cdf(k, n, p))
        np.testing.assert_allclose(cdf, sps.binom.cdf(k, n, p), rtol=1e-11, atol=1e-300)
        np.testing.assert_allclose(pmf, sps.binom.pmf(k, n, p), rtol=1e-10, atol=1e-300)


def test_binomial_scalars_come_back_as_floats():
    assert isinstance(dist.binom_cdf(3, 10, 0.5), float) and dist.binom_cdf(3, 10, 0.5) == 176 / 1024
    assert dist.binom_sf(10, 10, 0.5) == 0.0 and dist.binom_cdf(-1, 10, 0.5) == 0.0


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1])
def test_exact_test_threshold_is_the_binomial_quantile_stepped_down(alpha):
    n = np.arange(0, 700)
    for p in (0.5, 0.3):
        k = sps.binom.ppf(alpha / 2, n, p)
        expected = np.where(sps.binom.cdf(k, n, p) <= alpha / 2, k, k - 1)
        got = dist.binom_largest_k_at_most(alpha / 2, n, p)
        assert np.array_equal(got, expected)
        inside = got >= 0
        assert np.all(sps.binom.cdf(got[inside], n[inside], p) <= alpha / 2)
        assert np.all(sps.binom.cdf(got + 1, n, p)[got < n] > alpha / 2)


def test_the_statistics_modules_import_neither_scipy_stats_nor_scipy_optimize():
    """A fully cached compare recomputes every verdict; those two would cost it about 1 s of imports."""
    code = ("import sys, evalkit.compare.paired, evalkit.compare.share, evalkit.compare.analysis; "
            "print('scipy.stats' in sys.modules, 'scipy.optimize' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
