"""Tests for evalkit.compare.stats / power, checked against scipy and statsmodels on fixed data."""

from __future__ import annotations

import doctest
import itertools
import math
import time

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower, TTestPower

from evalkit.compare import power as power_module
from evalkit.compare import stats
from evalkit.compare.stats import (
    align_pairs,
    bootstrap_mean_ci,
    compare_paired,
    holm_correction,
    mcnemar_exact,
    minimum_detectable_effect,
    paired_bootstrap_ci,
    paired_permutation_test,
    ratio_ci,
    required_sample_size,
    wilcoxon_signed_rank,
)


def _continuous_pair(n: int, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(0.5, 0.2, size=n)
    return a, a + shift + rng.normal(0.0, 0.3, size=n)


def _mean_diff(x, y, axis=-1):
    return np.mean(y, axis=axis) - np.mean(x, axis=axis)


def _table_to_arrays(table: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Expand a 2x2 table (rows: reference fail/pass, cols: candidate fail/pass) to paired booleans."""
    a, b = [], []
    for ref in (0, 1):
        for cand in (0, 1):
            a += [bool(ref)] * table[ref][cand]
            b += [bool(cand)] * table[ref][cand]
    return np.array(a), np.array(b)


# ---------------------------------------------------------------- missing values and edge cases


def test_align_pairs_excludes_missing_pairwise():
    (a, b), excluded = align_pairs([1.0, None, 3.0, 4.0, np.nan], [2.0, 5.0, np.nan, 1.0, 0.0])
    assert a.tolist() == [1.0, 4.0] and b.tolist() == [2.0, 1.0]
    assert excluded == 3


def test_compare_paired_reports_excluded_and_uses_complete_pairs_only():
    a = [0.1, None, 0.5, 0.9, 0.3, float("nan")]
    b = [0.2, 0.7, None, 0.8, 0.6, 0.4]
    result = compare_paired(a, b, binary=False)
    assert result.n == 3 and result.n_excluded == 3
    assert result.delta == pytest.approx(np.mean([0.2, 0.8, 0.6]) - np.mean([0.1, 0.9, 0.3]))


@pytest.mark.parametrize(
    "call",
    [
        lambda: paired_bootstrap_ci([], []),
        lambda: bootstrap_mean_ci([]),
        lambda: mcnemar_exact([], []),
        lambda: paired_permutation_test([], []),
        lambda: wilcoxon_signed_rank([], []),
        lambda: ratio_ci([], [], []),
        lambda: compare_paired([], [], binary=True),
    ],
)
def test_empty_input_raises_clear_error(call):
    with pytest.raises(ValueError, match="empty input"):
        call()


def test_all_missing_unequal_lengths_and_infinite_values_raise():
    with pytest.raises(ValueError, match="no complete pairs"):
        paired_bootstrap_ci([None, 1.0], [2.0, None])
    with pytest.raises(ValueError, match="equal length"):
        paired_bootstrap_ci([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="infinite"):
        paired_bootstrap_ci([1.0, np.inf], [1.0, 2.0])


@pytest.mark.parametrize("binary", [True, False])
def test_single_pair_collapses_ci_and_gives_p_one(binary):
    result = compare_paired([0], [1], binary=binary)
    assert result.n == 1
    assert result.delta == result.ci_low == result.ci_high == 1.0
    assert result.p_value == 1.0


def test_invalid_confidence_and_resamples_raise():
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap_ci([1, 2], [2, 3], confidence=1.5)
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_mean_ci([1, 2], n_resamples=0)


# ---------------------------------------------------------------- bootstrap


def test_paired_bootstrap_delta_is_exact_mean_difference():
    a, b = _continuous_pair(137, 0.05, seed=1)
    delta, _, _ = paired_bootstrap_ci(a, b)
    assert delta == float(np.mean(b) - np.mean(a))


def test_paired_bootstrap_matches_scipy_percentile_within_monte_carlo_error():
    a, b = _continuous_pair(200, 0.05, seed=2)
    n_resamples = 20000
    _, low, high = paired_bootstrap_ci(a, b, n_resamples=n_resamples, seed=11)
    ref = sps.bootstrap((a, b), _mean_diff, paired=True, method="percentile", n_resamples=n_resamples,
                        rng=np.random.default_rng(12345))
    se = ref.standard_error  # ~0.022 here; MC error of a 2.5% quantile with 20k resamples is ~0.02*se
    assert low == pytest.approx(ref.confidence_interval.low, abs=0.1 * se)
    assert high == pytest.approx(ref.confidence_interval.high, abs=0.1 * se)


def test_bootstrap_mean_ci_matches_scipy_within_monte_carlo_error():
    x = np.random.default_rng(3).binomial(1, 0.3, size=300).astype(float)
    mean, low, high = bootstrap_mean_ci(x, confidence=0.9, n_resamples=20000, seed=5)
    ref = sps.bootstrap((x,), np.mean, method="percentile", confidence_level=0.9, n_resamples=20000,
                        rng=np.random.default_rng(99))
    assert mean == float(np.mean(x))
    assert low == pytest.approx(ref.confidence_interval.low, abs=0.1 * ref.standard_error)
    assert high == pytest.approx(ref.confidence_interval.high, abs=0.1 * ref.standard_error)


def test_bootstrap_is_deterministic_per_seed_and_chunking_does_not_change_results(monkeypatch):
    a, b = _continuous_pair(300, 0.0, seed=4)
    first = paired_bootstrap_ci(a, b, seed=7)
    assert paired_bootstrap_ci(a, b, seed=7) == first
    assert paired_bootstrap_ci(a, b, seed=8) != first
    monkeypatch.setattr(stats, "_MAX_CHUNK_ELEMENTS", 300 * 7)  # force many small chunks
    assert paired_bootstrap_ci(a, b, seed=7) == first


def test_paired_bootstrap_coverage_is_close_to_nominal():
    true_delta, covered, n_datasets = 0.1, 0, 300
    for i in range(n_datasets):
        a, b = _continuous_pair(40, true_delta, seed=1000 + i)
        _, low, high = paired_bootstrap_ci(a, b, n_resamples=400, seed=i)
        covered += low <= true_delta <= high
    # Percentile bootstrap slightly under-covers at n=40; 300 datasets give an SE of ~1.3 points.
    assert 0.88 <= covered / n_datasets <= 0.99


def test_paired_bootstrap_is_fast_at_ten_thousand_samples():
    a, b = _continuous_pair(10_000, 0.01, seed=5)
    start = time.perf_counter()
    paired_bootstrap_ci(a, b, n_resamples=2000)
    assert time.perf_counter() - start < 5.0


# ---------------------------------------------------------------- McNemar


@pytest.mark.parametrize(
    "table",
    [
        [[10, 0], [0, 7]],  # no discordant pairs
        [[4, 9], [0, 12]],  # all discordant pairs favour the candidate
        [[3, 0], [6, 5]],  # all discordant pairs favour the reference
        [[2, 1], [1, 2]],  # tie
        [[5, 3], [8, 4]],
        [[900, 140], [95, 1200]],  # large counts
        [[0, 0], [0, 1]],
    ],
)
def test_mcnemar_matches_statsmodels_exact(table):
    a, b = _table_to_arrays(table)
    result = mcnemar_exact(a, b)
    assert (result.b01, result.b10) == (table[0][1], table[1][0])
    expected = sm_mcnemar(np.array(table), exact=True).pvalue
    assert result.p_value == pytest.approx(expected, rel=1e-12, abs=1e-300)
    if result.b01 + result.b10:
        binom = sps.binomtest(result.b01, result.b01 + result.b10, 0.5).pvalue
        assert result.p_value == pytest.approx(binom, rel=1e-9)
    else:
        assert result.p_value == 1.0


def test_mcnemar_accepts_ints_and_missing_and_rejects_non_binary():
    result = mcnemar_exact([1, 0, None, 0], [1, 1, True, False])
    assert (result.b01, result.b10) == (1, 0)
    with pytest.raises(ValueError, match="0/1"):
        mcnemar_exact([0.5, 1], [1, 1])


# ---------------------------------------------------------------- permutation and Wilcoxon


@pytest.mark.parametrize("n, n_zero", [(2, 0), (6, 0), (12, 3), (16, 2), (18, 2)])
def test_permutation_exact_matches_scipy(n, n_zero):
    a, b = _continuous_pair(n, 0.15, seed=n)
    b[:n_zero] = a[:n_zero]  # zero differences: 18 samples with 2 zeros -> 16 non-zero, still exact
    expected = sps.permutation_test((a, b), _mean_diff, permutation_type="samples",
                                    n_resamples=np.inf).pvalue
    assert paired_permutation_test(a, b) == pytest.approx(expected, rel=1e-12)


def test_permutation_exact_counts_float_ties_as_extreme():
    a = np.zeros(6)
    b = np.array([0.1, 0.2, -0.3, 0.3, 0.6, -0.1])  # many sign patterns tie |sum| only up to rounding
    expected = sps.permutation_test((a, b), _mean_diff, permutation_type="samples", n_resamples=np.inf).pvalue
    assert paired_permutation_test(a, b) == pytest.approx(expected, rel=1e-12)
    signs = np.array(list(itertools.product([-1, 1], repeat=6)))
    without_tolerance = np.mean(np.abs(signs @ b) >= abs(b.sum()))
    assert without_tolerance < expected  # the data really exercises rounding ties


def test_permutation_monte_carlo_close_to_scipy():
    a, b = _continuous_pair(60, 0.08, seed=7)
    n_resamples = 20000
    expected = sps.permutation_test((a, b), _mean_diff, permutation_type="samples",
                                    n_resamples=n_resamples, rng=np.random.default_rng(1)).pvalue
    assert 0.01 < expected < 0.2  # the comparison is informative only away from 0 and 1
    assert paired_permutation_test(a, b, n_resamples=n_resamples, seed=2) == pytest.approx(expected, abs=0.01)


def test_permutation_monte_carlo_uses_plus_one_correction():
    a = np.zeros(40)
    b = np.linspace(1.0, 2.0, 40)  # all differences positive: only all-+ / all-- signs are as extreme
    assert paired_permutation_test(a, b, n_resamples=999) == 1 / 1000


def test_permutation_all_zero_differences_and_single_pair_give_one():
    assert paired_permutation_test([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 1.0
    assert paired_permutation_test([0.2], [0.9]) == 1.0


def test_wilcoxon_matches_scipy_and_handles_all_zero():
    a, b = _continuous_pair(30, 0.1, seed=7)
    b[:4] = a[:4]
    expected = sps.wilcoxon(b, a, zero_method="wilcox").pvalue
    assert wilcoxon_signed_rank(a, b) == pytest.approx(expected, rel=1e-12)
    assert wilcoxon_signed_rank([1, 2, 3], [1, 2, 3]) == 1.0


# ---------------------------------------------------------------- Holm


@pytest.mark.parametrize(
    "p_values",
    [
        [0.01, 0.04, 0.03, 0.2],
        [0.5],
        [0.001, 0.001, 0.3, 0.02, 0.02, 0.9],  # ties
        list(np.random.default_rng(8).uniform(0, 0.2, size=25)),
        [1.0, 0.0, 0.6],
    ],
)
def test_holm_matches_statsmodels(p_values):
    expected = multipletests(p_values, method="holm")[1]
    assert holm_correction(p_values) == pytest.approx(list(expected), abs=1e-15)


def test_holm_empty_and_invalid():
    assert holm_correction([]) == []
    with pytest.raises(ValueError):
        holm_correction([0.1, float("nan")])
    with pytest.raises(ValueError):
        holm_correction([1.2])


# ---------------------------------------------------------------- power


@pytest.mark.parametrize("n, sd", [(20, 0.5), (100, 1.0), (1500, 0.25)])
def test_continuous_mde_matches_statsmodels_normal_power(n, sd):
    # NormalIndPower with ratio=0 is the one-sample (paired) z-test; effect_size is in SD units.
    es = NormalIndPower().solve_power(effect_size=None, nobs1=n, alpha=0.05, power=0.8, ratio=0)
    assert minimum_detectable_effect(n, sd_diff=sd) == pytest.approx(es * sd, rel=1e-4)


def test_continuous_mde_close_to_paired_t_test_power_at_large_n():
    es = TTestPower().solve_power(effect_size=None, nobs=2000, alpha=0.05, power=0.8)
    assert minimum_detectable_effect(2000, sd_diff=1.0) == pytest.approx(es, rel=2e-3)


@pytest.mark.parametrize(
    "kwargs",
    [{"sd_diff": 0.3}, {"discordant_rate": 0.15}, {"baseline_rate": 0.6}, {"sd_diff": 2.0, "alpha": 0.01}],
)
@pytest.mark.parametrize("effect", [0.01, 0.05, 0.2])
def test_mde_and_sample_size_round_trip(kwargs, effect):
    n = required_sample_size(effect, **kwargs)
    assert minimum_detectable_effect(n, **kwargs) <= effect
    if n > 1:
        assert minimum_detectable_effect(n - 1, **kwargs) > effect


def test_mde_monotonicity():
    mdes = [minimum_detectable_effect(n, discordant_rate=0.2) for n in (10, 50, 200, 1000)]
    assert mdes == sorted(mdes, reverse=True)
    reference = minimum_detectable_effect(100, sd_diff=1.0)
    assert minimum_detectable_effect(100, sd_diff=2.0) > reference
    assert minimum_detectable_effect(100, sd_diff=1.0, alpha=0.01) > reference
    assert minimum_detectable_effect(100, sd_diff=1.0, power=0.9) > reference


def test_baseline_rate_assumes_independent_arms():
    p = 0.7
    assert minimum_detectable_effect(300, baseline_rate=p) == pytest.approx(
        minimum_detectable_effect(300, discordant_rate=2 * p * (1 - p)))


@pytest.mark.parametrize("effect, psi", [(0.1, 0.3), (0.05, 0.1), (0.03, 0.2)])
def test_binary_sample_size_achieves_power_in_simulation(effect, psi):
    n = required_sample_size(effect, discordant_rate=psi)
    counts = np.random.default_rng(0).multinomial(n, [(psi + effect) / 2, (psi - effect) / 2, 1 - psi],
                                                  size=20000)
    b01, b10 = counts[:, 0], counts[:, 1]
    z = (b01 - b10) / np.sqrt(np.maximum(b01 + b10, 1))
    assert np.mean(np.abs(z) > sps.norm.ppf(0.975)) >= 0.79  # the normal-approx McNemar test it models
    exact_p = np.minimum(1.0, 2 * sps.binom.cdf(np.minimum(b01, b10), b01 + b10, 0.5))
    assert 0.74 <= np.mean(exact_p < 0.05) <= 0.9  # the exact test is a little less powerful


def test_power_argument_validation():
    with pytest.raises(ValueError, match="not both"):
        minimum_detectable_effect(10, sd_diff=1.0, discordant_rate=0.2)
    with pytest.raises(ValueError, match="give one of"):
        minimum_detectable_effect(10)
    with pytest.raises(ValueError, match="baseline_rate"):
        minimum_detectable_effect(10, baseline_rate=1.0)
    with pytest.raises(ValueError, match="n must be"):
        minimum_detectable_effect(0, sd_diff=1.0)
    with pytest.raises(ValueError, match="effect"):
        required_sample_size(0.0, sd_diff=1.0)


# ---------------------------------------------------------------- prompt-only ratio


def test_ratio_exactly_half_when_prompt_recovers_half_of_every_gain():
    rng = np.random.default_rng(9)
    base = rng.uniform(0.2, 0.6, size=80)
    tuned = base + rng.uniform(0.0, 0.4, size=80)
    prompt = base + 0.5 * (tuned - base)
    result = ratio_ci(base, prompt, tuned, seed=3)
    assert result.defined and result.reason is None
    assert result.ratio == pytest.approx(0.5)
    assert result.low == pytest.approx(0.5) and result.high == pytest.approx(0.5)
    assert result.gain_prompt == pytest.approx(0.5 * result.gain_tuned)
    assert result.n_dropped_resamples == 0


def test_ratio_ci_matches_scipy_joint_bootstrap_when_tuned_gain_is_clearly_positive():
    rng = np.random.default_rng(10)
    base = rng.binomial(1, 0.4, size=400).astype(float)
    tuned = np.where(rng.random(400) < 0.3, 1.0, base)
    prompt = np.where(rng.random(400) < 0.15, 1.0, base)
    result = ratio_ci(base, prompt, tuned, n_resamples=20000, seed=1)

    def ratio(x, p, t, axis=-1):
        return (np.mean(p, axis) - np.mean(x, axis)) / (np.mean(t, axis) - np.mean(x, axis))

    ref = sps.bootstrap((base, prompt, tuned), ratio, paired=True, method="percentile", n_resamples=20000,
                        rng=np.random.default_rng(2))
    assert result.defined and result.n_dropped_resamples == 0
    assert result.ratio == pytest.approx(ratio(base, prompt, tuned))
    assert result.low == pytest.approx(ref.confidence_interval.low, abs=0.1 * ref.standard_error)
    assert result.high == pytest.approx(ref.confidence_interval.high, abs=0.1 * ref.standard_error)


def test_ratio_tuned_gain_ci_is_the_paired_bootstrap_of_base_vs_tuned():
    base, tuned = _continuous_pair(150, 0.1, seed=11)
    prompt = base + 0.03
    result = ratio_ci(base, prompt, tuned, seed=4)
    _, low, high = paired_bootstrap_ci(base, tuned, seed=4)
    assert result.tuned_gain_ci == pytest.approx((low, high), abs=1e-12)


def test_ratio_undefined_when_tuned_gain_not_clearly_positive():
    base, tuned = _continuous_pair(100, 0.0, seed=12)
    result = ratio_ci(base, base + 0.1, tuned, seed=0)
    assert result.tuned_gain_ci[0] <= 0
    assert not result.defined
    assert math.isnan(result.ratio) and math.isnan(result.low) and math.isnan(result.high)
    assert "not clearly positive" in result.reason


def test_ratio_drops_resamples_with_non_positive_tuned_gain():
    base, tuned = _continuous_pair(20, 0.12, seed=13)
    prompt = base + 0.5 * (tuned - base)
    result = ratio_ci(base, prompt, tuned, confidence=0.8, n_resamples=4000, seed=0)
    assert result.defined
    assert 0 < result.n_dropped_resamples < 0.1 * 4000  # below the 10% lower tail by construction
    assert result.low == pytest.approx(0.5) and result.high == pytest.approx(0.5)


def test_ratio_excludes_samples_missing_in_any_arm():
    result = ratio_ci([0, 0, None, 0], [0.5, 0.5, 1, np.nan], [1, 1, 1, 1], n_resamples=100)
    assert result.n == 2 and result.n_excluded == 2
    assert result.ratio == pytest.approx(0.5)


# ---------------------------------------------------------------- compare_paired


def test_compare_paired_binary_bundles_mcnemar_and_bootstrap():
    a, b = _table_to_arrays([[30, 25], [10, 135]])
    result = compare_paired(a, b, binary=True, seed=5)
    assert result.test == "mcnemar_exact"
    assert (result.b01, result.b10) == (25, 10)
    assert result.p_value == pytest.approx(sm_mcnemar(np.array([[30, 25], [10, 135]]), exact=True).pvalue)
    assert (result.delta, *result.ci) == paired_bootstrap_ci(a, b, seed=5)
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
    assert result.mde == pytest.approx(z * math.sqrt(35 / 200 / 200))
    assert result.mean_a == pytest.approx(145 / 200) and result.mean_b == pytest.approx(160 / 200)


def test_compare_paired_continuous_uses_permutation_test():
    a, b = _continuous_pair(50, 0.1, seed=14)
    result = compare_paired(a, b, binary=False, seed=3)
    assert result.test == "paired_permutation"
    assert result.b01 is None and result.b10 is None
    assert result.p_value == paired_permutation_test(a, b, seed=3)
    expected = sps.permutation_test((a, b), _mean_diff, permutation_type="samples", n_resamples=10000,
                                    rng=np.random.default_rng(0)).pvalue
    assert result.p_value == pytest.approx(expected, abs=0.01)
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
    assert result.mde == pytest.approx(z * np.std(b - a, ddof=1) / math.sqrt(50))


def test_compare_paired_binary_mde_fallbacks_when_no_discordant_pairs():
    result = compare_paired([1, 0, 1, 1], [1, 0, 1, 1], binary=True)
    assert result.p_value == 1.0
    assert result.mde == pytest.approx(minimum_detectable_effect(4, baseline_rate=0.75))
    assert math.isnan(compare_paired([1, 1], [1, 1], binary=True).mde)


def test_compare_paired_binary_rejects_non_binary_values():
    with pytest.raises(ValueError, match="0/1"):
        compare_paired([0.2, 0.4], [0.3, 0.9], binary=True)


# ---------------------------------------------------------------- documentation


@pytest.mark.parametrize("module", [stats, power_module])
def test_docstring_examples_run(module):
    failures, _ = doctest.testmod(module)
    assert failures == 0


def test_every_public_function_is_documented():
    for name in stats.__all__:
        assert getattr(stats, name).__doc__, name
