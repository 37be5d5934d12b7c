"""The paired procedure behind every verdict: clusters, repeated draws, small n, multiplicity.

Each defect found in review has a test here that failed on the previous procedure (bootstrap
percentile interval + per-candidate Holm + normal-approximation power + worst-estimate roll-up).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import optimize
from scipy import stats as sps

import evalkit
from evalkit.compare.analysis import CompareOptions, build_comparison
from evalkit.compare.calibration import SCENARIOS, Scenario, promised_power, simulate, simulate_share
from evalkit.compare.gate import GateSpec, evaluate_gate
from evalkit.compare.paired import (
    INCONCLUSIVE,
    NO_CHANGE,
    REGRESSED,
    analyse_pairs,
    exact_mcnemar_power,
    paired_verdict,
    prepare_pairs,
    samples_needed,
)
from evalkit.compare.rundata import RunData, SampleResult
from evalkit.compare.stats import holm_correction, mcnemar_exact, paired_permutation_test
from evalkit.compare.verdicts import forgetting_verdict


def _ids(values) -> dict[str, float]:
    return {f"s{i:03d}": float(v) for i, v in enumerate(values)}


def _run(name: str, kind: str, values: dict, binary: bool, clusters: dict | None = None,
         other: dict | None = None) -> RunData:
    samples = {sid: SampleResult(value=v, passed=(v == 1.0) if binary else None) for sid, v in values.items()}
    metrics = {"primary_metric": "m", "metrics": {"m": {"mean": float(np.mean(list(values.values()))),
                                                        "binary": binary}}}
    metric_values = {"m": dict(values), **(other or {})}
    return RunData(suite={"name": name, "kind": kind, "version": "1"}, arm={}, metrics=metrics,
                   samples=samples, clusters=clusters or {}, metric_values=metric_values)


def _arms(*names: str) -> list[dict]:
    kinds = {"base": "base", "prompt": "prompt_only", "tuned": "tuned"}
    return [{"name": n, "kind": kinds.get(n, "tuned"), "spec": {}} for n in names]


# ------------------------------------------------------------------ small-n honesty (defect 3)


def test_no_discordant_pair_gives_an_honest_interval_not_zero_width():
    ref = _ids([1] * 12 + [0] * 8)
    v = paired_verdict(ref, dict(ref))
    # Tango's interval with b = c = 0 is +-z^2 / (n + z^2): 16.1 points at n = 20.
    z2 = sps.norm.ppf(0.975) ** 2
    assert v.ci_low == pytest.approx(-z2 / (20 + z2), abs=1e-6)
    assert v.ci_high == pytest.approx(z2 / (20 + z2), abs=1e-6)
    assert v.verdict == INCONCLUSIVE  # the previous [0, 0] interval said "no significant change"
    assert "need ~" in v.power_note


def test_gate_with_a_tight_budget_fails_when_twenty_samples_cannot_rule_out_a_drop():
    values = _ids([1] * 12 + [0] * 8)
    runs = {"reg": {"base": _run("reg", "regression", values, True),
                    "tuned": _run("reg", "regression", dict(values), True)}}
    comparison = build_comparison("t", _arms("base", "tuned"), runs, CompareOptions())
    result = evaluate_gate(comparison, GateSpec(forgetting_budget=0.02))
    assert not result["passed"]
    rule = result["rules"][0]
    assert "samples" in rule["message"] and "would let this budget pass" in rule["message"]


def test_tango_interval_inverts_the_score_test_with_the_numerical_restricted_mle():
    ref = _ids([1] * 30 + [0] * 20 + [1] * 3 + [0] * 9)
    cand = _ids([1] * 30 + [0] * 20 + [0] * 3 + [1] * 9)
    v = paired_verdict(ref, cand)
    n, b, c = 62, 9, 3  # b: candidate better, c: reference better

    def score(delta: float) -> float:
        def neg_loglik(x: float) -> float:  # x = P(reference better) under mean difference delta
            return -(b * math.log(x + delta) + c * math.log(x) + (n - b - c) * math.log(1 - 2 * x - delta))

        lo, hi = max(0.0, -delta) + 1e-12, (1 - delta) / 2 - 1e-12
        x = optimize.minimize_scalar(neg_loglik, bounds=(lo, hi), method="bounded",
                                     options={"xatol": 1e-13}).x
        return (b - c - n * delta) / math.sqrt(n * (2 * x + delta - delta**2))

    z = sps.norm.ppf(0.975)
    assert score(v.ci_low) == pytest.approx(z, abs=1e-4)
    assert score(v.ci_high) == pytest.approx(-z, abs=1e-4)


# --------------------------------------------------- the test and the interval agree (defect 4)


def test_test_and_interval_disagreement_is_named_and_never_no_significant_change():
    ref = _ids([1] * 100 + [0] * 100)
    cand = dict(ref)
    for i in range(5):
        cand[f"s{i:03d}"] = 0.0  # 5 pass -> fail, 0 fail -> pass
    v = paired_verdict(ref, cand)
    assert v.p_value == pytest.approx(0.0625)
    assert v.ci_high < 0  # the interval excludes zero
    assert v.verdict == INCONCLUSIVE  # previously "no significant change"
    assert v.agreement and "disagree" in v.agreement


def test_verdict_needs_both_the_test_and_the_interval():
    ref = _ids([0] * 40)
    cand = {**ref, **{f"s{i:03d}": 1.0 for i in range(12)}}
    v = paired_verdict(ref, cand)
    assert v.verdict == "improved" and v.ci_low > 0 and v.p_value < 0.05 and v.agreement is None


# -------------------------------------------------------------------------- clusters (defect 1)


def test_cluster_sign_flip_is_the_exact_enumeration_over_cluster_totals():
    rng = np.random.default_rng(3)
    ref, cand, clusters = {}, {}, {}
    for g in range(6):
        for j in range(5):
            sid = f"{g}-{j}"
            ref[sid], cand[sid], clusters[sid] = float(rng.random() < 0.5), float(rng.random() < 0.6), g
    stats = analyse_pairs(prepare_pairs(ref, cand, clusters=clusters))
    totals = np.zeros(6)
    for sid in ref:
        totals[clusters[sid]] += cand[sid] - ref[sid]
    observed = abs(totals.sum())
    signs = itertools.product((1, -1), repeat=6)
    patterns = [abs(np.dot(sign, totals)) >= observed - 1e-9 for sign in signs]
    assert stats.test == "cluster_sign_flip"
    assert stats.p_value == pytest.approx(np.mean(patterns))
    assert stats.n_clusters == 6 and stats.icc is not None


def test_unclustered_results_keep_the_textbook_tests():
    rng = np.random.default_rng(0)
    a = rng.random(80) < 0.5
    b = np.where(rng.random(80) < 0.7, a, rng.random(80) < 0.6)
    stats = analyse_pairs(prepare_pairs(_ids(a), _ids(b)))
    assert stats.test == "mcnemar_exact" and stats.p_value == mcnemar_exact(a, b).p_value
    x, y = rng.random(50), rng.random(50)
    cont = analyse_pairs(prepare_pairs(_ids(x), _ids(y)))
    assert cont.test == "paired_permutation" and cont.p_value == paired_permutation_test(x, y)


def test_clusters_widen_the_interval_when_a_cluster_moves_together():
    rng = np.random.default_rng(5)
    ref, cand, clusters = {}, {}, {}
    for g in range(10):
        shift = rng.choice([-0.3, 0.3])
        for j in range(16):
            sid = f"{g}-{j}"
            p = rng.uniform(0.35, 0.65)
            ref[sid], cand[sid], clusters[sid] = float(rng.random() < p), float(rng.random() < p + shift), g
    plain = paired_verdict(ref, cand)
    clustered = paired_verdict(ref, cand, clusters=clusters)
    assert clustered.ci_high - clustered.ci_low > 1.3 * (plain.ci_high - plain.ci_low)
    assert clustered.design_effect > 1.5 and clustered.n_clusters == 10


def test_clustered_false_positive_rate_and_coverage_reduced_calibration():
    out = simulate(SCENARIOS["10 templates x 16"](0), 150, seed=11)
    assert out.change_called <= 0.08  # target 5%; 150 trials leave ~1.8 points of noise
    assert 0.90 <= out.coverage <= 0.99
    assert out.naive_change_called > out.change_called  # independent-sample inference over-calls


def test_draws_stored_as_ids_are_handled_by_clustering_on_the_item():
    s = Scenario("draws as ids", 32, 1, shift=0.2, draws=5, draws_as_ids=True)
    out = simulate(s, 120, seed=4)
    assert out.change_called <= 0.08 and out.coverage >= 0.9


# ------------------------------------------------------------------- repeated draws (defect 2)


def test_repeated_draws_pair_on_item_means_and_report_sampling_noise():
    rng = np.random.default_rng(2)
    ref = {f"i{i}": (rng.random(4) < 0.5).astype(float).tolist() for i in range(30)}
    cand = {f"i{i}": (rng.random(4) < 0.6).astype(float).tolist() for i in range(30)}
    v = paired_verdict(ref, cand)
    expected = np.mean([np.mean(cand[k]) - np.mean(ref[k]) for k in ref])
    assert v.delta == pytest.approx(expected)
    assert v.test == "paired_permutation"  # item means are not pass/fail any more
    assert v.sampling_variance_share is not None and 0.3 < v.sampling_variance_share <= 1.0
    out = simulate(SCENARIOS["32 items x 5 draws"](0), 120, seed=9)
    assert out.change_called <= 0.08 and out.coverage >= 0.9


# ----------------------------------------------------------------- forgetting roll-up (defect 5)


def test_forgetting_rollup_judges_the_worst_lower_bound_not_the_worst_estimate():
    entries = [
        {"suite": "A", "delta": -0.020, "low": -0.028, "high": -0.01, "verdict": NO_CHANGE},
        {"suite": "B", "delta": -0.005, "low": -0.045, "high": 0.03, "verdict": NO_CHANGE},
    ]
    out = forgetting_verdict("tuned", entries, budget=0.03)
    assert out["verdict"] == "inconclusive"  # previously "no forgetting detected"
    assert out["worst_suite"] == "B"


# ----------------------------------------------------------------------------- power (defect 6)


def test_exact_mcnemar_power_matches_simulation_and_the_promise_holds():
    rng = np.random.default_rng(1)
    n, psi, effect = 300, 0.25, 0.08
    trials = 4000
    big_n = rng.binomial(n, psi, trials)
    k = rng.binomial(big_n, (psi + effect) / (2 * psi))
    p = np.minimum(1, 2 * sps.binom.cdf(np.minimum(k, big_n - k), big_n, 0.5))
    assert exact_mcnemar_power(n, psi, effect, 0.05) == pytest.approx(np.mean(p < 0.05), abs=0.025)
    # The normal approximation's n (628 at psi = 0.2, 5 points) delivers under 80% with the exact test.
    assert exact_mcnemar_power(628, 0.2, 0.05, 0.05) < 0.8
    ref, cand = _ids([1] * 80 + [0] * 80), _ids([1] * 64 + [0] * 16 + [1] * 16 + [0] * 64)
    stats = analyse_pairs(prepare_pairs(ref, cand))
    needed = samples_needed(stats, 0.05, 0.05)
    assert exact_mcnemar_power(needed, 0.2, 0.05, 0.05) >= 0.8


def test_power_at_the_promised_n_reduced_calibration():
    n, power = promised_power(Scenario("drop 10 pt", 100, 1, delta=-0.10), 150, seed=2)
    assert 150 < n < 400
    assert power >= 0.72  # target 80%; 150 trials leave ~3.3 points of noise


def test_power_note_uses_the_corrected_level_of_the_family():
    values = _ids([1] * 30 + [0] * 30)
    cand = {**values, **{f"s{i:03d}": 0.0 for i in range(8)}, **{f"s{i:03d}": 1.0 for i in range(30, 38)}}
    runs = {f"suite{i}": {"base": _run(f"suite{i}", "regression", values, True),
                          "tuned": _run(f"suite{i}", "regression", cand, True)} for i in range(3)}
    comparison = build_comparison("t", _arms("base", "tuned"), runs, CompareOptions())
    note = comparison["suites"][0]["deltas"][0]["power_note"]
    assert "α=0.0167" in note


# ------------------------------------------------------------------------ multiplicity (defect 7)


def test_holm_runs_over_every_candidate_and_suite_of_a_compare():
    rng = np.random.default_rng(4)
    base = _ids(rng.random(60) < 0.4)
    prompt = _ids(rng.random(60) < 0.55)
    tuned = _ids(rng.random(60) < 0.65)
    runs = {name: {"base": _run(name, "task", base, True), "prompt": _run(name, "task", prompt, True),
                   "tuned": _run(name, "task", tuned, True)} for name in ("a", "b")}
    comparison = build_comparison("t", _arms("base", "prompt", "tuned"), runs, CompareOptions())
    deltas = [d for s in comparison["suites"] for d in s["deltas"]]
    assert len(deltas) == 4 and all(d["holm_family"] == 4 for d in deltas)
    assert [d["p_holm"] for d in deltas] == pytest.approx(holm_correction([d["p_value"] for d in deltas]))


# --------------------------------------------------------------------- prompt-only share (defect 8)


def test_prompt_share_has_a_fieller_interval_and_says_how_many_samples_would_decide():
    base = _ids([0] * 160)
    tuned = {**base, **{f"s{i:03d}": 1.0 for i in range(64)}}
    prompt = {**base, **{f"s{i:03d}": 1.0 for i in [*range(0, 64, 2), *range(70, 90)]}}
    runs = {"task": {a: _run("task", "task", v, True) for a, v in
                     (("base", base), ("prompt", prompt), ("tuned", tuned))}}
    comparison = build_comparison("t", _arms("base", "prompt", "tuned"), runs, CompareOptions())
    share = comparison["prompt_only"][0]
    assert share["method"] == "fieller" and share["defined"]
    assert share["low"] < share["ratio"] < share["high"]
    if share["low"] < 0.8 <= share["high"]:
        assert share["needed_n"] and f"about {share['needed_n']} samples" in share["conclusion"]


def test_prompt_share_interval_coverage_reduced_calibration():
    coverage, _ = simulate_share(150, seed=5)
    assert 0.9 <= coverage <= 0.99


# ---------------------------------------------------------------------- secondary metrics (defect 9)


def test_secondary_metrics_get_paired_exploratory_intervals():
    rng = np.random.default_rng(6)
    base, tuned = _ids(rng.random(50) < 0.4), _ids(rng.random(50) < 0.7)
    fmt_b, fmt_t = _ids(rng.random(50) < 0.5), _ids(rng.random(50) < 0.9)
    runs = {"task": {"base": _run("task", "task", base, True, other={"format": fmt_b}),
                     "tuned": _run("task", "task", tuned, True, other={"format": fmt_t})}}
    comparison = build_comparison("t", _arms("base", "tuned"), runs, CompareOptions())
    (secondary,) = comparison["suites"][0]["secondary"]
    assert secondary["metric"] == "format" and secondary["exploratory"]
    assert secondary["low"] < secondary["delta"] < secondary["high"]
    assert secondary["delta"] == pytest.approx(np.mean(list(fmt_t.values())) - np.mean(list(fmt_b.values())))


# ---------------------------------------------------------------------------------- public API


def test_paired_verdict_is_public_and_is_the_compare_code():
    assert evalkit.paired_verdict is paired_verdict
    rng = np.random.default_rng(8)
    ref, cand = _ids(rng.random(70) < 0.5), _ids(rng.random(70) < 0.62)
    runs = {"task": {"base": _run("task", "task", ref, True), "tuned": _run("task", "task", cand, True)}}
    d = build_comparison("t", _arms("base", "tuned"), runs, CompareOptions())["suites"][0]["deltas"][0]
    v = paired_verdict(ref, cand)
    assert (d["delta"], d["low"], d["high"], d["p_value"], d["verdict"]) == (
        v.delta, v.ci_low, v.ci_high, v.p_value, v.verdict)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="no complete pairs"):
        paired_verdict({"a": None}, {"a": 1.0})
    with pytest.raises(ValueError, match="binary=True"):
        paired_verdict({"a": 0.5}, {"a": 1.0}, binary=True)
    with pytest.raises(ValueError, match="min_effect"):
        paired_verdict({"a": 0.0}, {"a": 1.0}, min_effect=5)


def test_regression_is_called_on_a_planted_clustered_drop():
    rng = np.random.default_rng(12)
    ref, cand, clusters = {}, {}, {}
    for g in range(30):
        for j in range(10):
            sid = f"{g}-{j}"
            p, u = rng.uniform(0.4, 0.8), rng.random()  # shared draw: tuned fails where base did
            ref[sid], cand[sid], clusters[sid] = float(u < p), float(u < p - 0.15), g
    assert paired_verdict(ref, cand, clusters=clusters).verdict == REGRESSED


def test_a_gate_value_a_hair_past_its_threshold_never_prints_as_the_threshold():
    from evalkit.compare.gate import shown

    assert shown(-0.08003, -0.08, sign=True) == "-0.08003" and shown(-0.0803, -0.08, sign=True) == "-0.0803"
    assert shown(0.29996, 0.3) == "0.29996"
    assert shown(-0.0471, -0.08, sign=True) == "-0.047"  # far from it: three decimals
    assert shown(0.3, 0.3) == "0.300"  # exactly on it (passes a >= rule)
