"""The anytime-valid confidence sequence and the sequential stopping rule (reduced calibration)."""

from __future__ import annotations

import numpy as np
import pytest

from evalkit.compare.calibration import Scenario, simulate_sequential
from evalkit.compare.sequential import (
    BettingConfidenceSequence,
    ClusterDesign,
    FinalLook,
    SequentialLevels,
    decide_suite,
)


def test_peeking_after_every_round_keeps_the_error_rate():
    rng = np.random.default_rng(0)
    crossed = 0
    trials = 120
    for _ in range(trials):
        diffs = rng.choice([-1.0, 0.0, 1.0], size=480, p=[0.15, 0.7, 0.15])
        cs = BettingConfidenceSequence(alpha=0.05)
        for start in range(0, 480, 32):  # 15 looks
            cs.update(diffs[start:start + 32])
            low, high = cs.interval()
            if low > 0 or high < 0:
                crossed += 1
                break
    assert crossed / trials <= 0.06  # target 5%; a fixed-n test peeked 15 times exceeds it


def test_intervals_shrink_and_only_ever_narrow():
    rng = np.random.default_rng(1)
    cs = BettingConfidenceSequence(alpha=0.05)
    previous = (-1.0, 1.0)
    for _ in range(10):
        cs.update(rng.normal(0.1, 0.2, 50).clip(-1, 1))
        low, high = cs.interval()
        assert previous[0] <= low and high <= previous[1]
        previous = (low, high)
    assert 0.0 < previous[0] < 0.1 < previous[1] < 0.2


def test_out_of_range_observation_is_an_error():
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        BettingConfidenceSequence().update([1.5])


def _unclustered(n: int) -> ClusterDesign:
    return ClusterDesign.from_sizes([1] * n)


def _decide(diffs, *, role="regression", gated=False, n_total=None, final=None, levels=SequentialLevels()):
    diffs = list(diffs)
    n_total = n_total or 10 * len(diffs)
    return decide_suite(diffs, _unclustered(n_total), levels, role=role, budget=0.08,
                        exhausted=len(diffs) >= n_total, gated=gated, final=final)


def test_levels_split_alpha_between_early_stops_and_the_final_look():
    levels = SequentialLevels(alpha=0.05, early_share=0.2, family=6)
    assert levels.early + levels.final == pytest.approx(0.05)
    assert levels.early == pytest.approx(0.01) and levels.strict == pytest.approx(0.01 / 6)


def test_stop_rule_per_role():
    assert _decide([1.0] * 60, role="task").reason == "improvement shown"
    assert _decide([-1.0] * 60, role="task").reason == "regression shown"
    assert _decide([0.0] * 400).reason == "forgetting ruled out"
    small_drop = ([-1.0] + [0.0] * 15) * 25  # a 6.25-point drop, 400 samples
    assert _decide(small_drop).reason == "regression shown"
    # judged for a gate, a significant drop that may still be inside the budget settles nothing
    gated = _decide(small_drop, gated=True)
    assert not gated.settled and gated.high < 0 and gated.low < -0.08
    big_drop = ([-1.0] + [0.0] * 4) * 100  # 20 points, 500 samples
    assert _decide(big_drop, gated=True).reason == "drop beyond the budget shown"
    assert _decide(small_drop, gated=True, n_total=400).reason == "exhausted"


def test_the_final_look_narrows_the_interval_and_its_p_value_counts_at_its_share():
    rng = np.random.default_rng(5)
    diffs = rng.choice([-1.0, 0.0, 1.0], size=300, p=[0.12, 0.78, 0.10])
    alone = _decide(diffs, n_total=300)
    final = FinalLook(low=-0.05, high=0.02, p_value=0.01)
    looked = _decide(diffs, n_total=300, final=final)
    assert alone.low < looked.low == pytest.approx(-0.05) and looked.high <= 0.02
    assert looked.p_value == pytest.approx(min(alone.p_value, 0.01 * 0.05 / 0.04))


def test_unequal_clusters_are_weighted_per_sample_not_per_cluster():
    # 30 clusters of 10 samples that all lost a point, and 300 single samples that did not change:
    # the per-sample mean difference is -0.5; a mean of cluster means would say -30/330 = -0.09
    rng = np.random.default_rng(2)
    units = [(10, -10.0)] * 30 + [(1, 0.0)] * 300
    order = rng.permutation(len(units))
    sizes, totals = [units[i][0] for i in order], [units[i][1] for i in order]
    decision = decide_suite(totals, ClusterDesign.from_sizes(sizes), SequentialLevels(), role="regression",
                            budget=0.08, exhausted=False, sizes=sizes)
    assert decision.low <= -0.5 <= decision.high and decision.high < -0.09


def test_an_unchanged_model_passes_a_541_prompt_forgetting_suite_early():
    out = simulate_sequential(Scenario("A/A", 541, 1, checks=4), 30, seed=3)
    assert out.wrong_call <= 0.1 and out.ruled_out >= 0.85  # 30 trials: the 5% target plus noise
    # decided on about a quarter of the suite (bets capped at 3/4 of the largest safe bet: 131
    # samples in these trials; at 1/2, 159)
    assert out.mean_samples < 0.27 * 541


def test_a_planted_ten_point_drop_is_shown_and_never_ruled_out():
    out = simulate_sequential(Scenario("drop", 541, 1, delta=-0.10, checks=4), 30, seed=4)
    assert out.regression_shown >= 0.9 and out.ruled_out == 0
    assert out.covered >= 0.9


def test_a_drop_inside_the_budget_passes_the_gate_about_as_often_as_at_fixed_n():
    # a 5-point drop against an 8-point budget: the suite runs out, and the final look keeps most
    # of the fixed-n interval's power to clear it (the sequence alone would clear it far less often)
    out = simulate_sequential(Scenario("drop", 541, 1, delta=-0.05, checks=4), 30, seed=6)
    assert out.ruled_out >= out.fixed_ruled_out - 0.15 and out.fixed_ruled_out >= 0.6
    assert out.wrong_call == 0 and out.covered >= 0.9


def test_an_arm_generates_ahead_once_per_batch_and_never_past_the_suite():
    from pathlib import Path

    from evalkit.compare.sequential_run import SuiteSequence
    from evalkit.suite.loader import Suite
    from evalkit.suite.spec import SuiteSpec
    from evalkit.types import Sample

    spec = SuiteSpec.model_validate({"name": "s", "kind": "regression", "data": "data.jsonl",
                                     "scorers": [{"name": "exact_match"}]})
    suite = Suite(spec, Path("."), [Sample(id=f"x{i}", input="q", target="a") for i in range(300)])
    seq = SuiteSequence(suite, budget=0.08, role="forgetting")
    sizes = []
    while seq.used < seq.total:
        seq.next_prefix(32, None)
        cut = seq.ahead_prefix("base", 128)
        sizes.append(None if cut is None else len(cut.samples))
    assert sizes == [128, None, None, None, 256, None, None, None, 300, None]
    assert seq.generated(["base", "other"]) == 300 + 300
    seq2 = SuiteSequence(suite, budget=0.08, role="forgetting")
    seq2.next_prefix(32, None)
    seq2.ahead_prefix("base", 128)
    assert seq2.generated(["base", "other"]) == 128 + 32  # "other" could not generate ahead


def test_a_suite_scored_by_a_judge_is_recognised():
    from pathlib import Path

    from evalkit.compare.sequential_run import judged
    from evalkit.judge.scorers import JudgeScorer
    from evalkit.suite.loader import Suite
    from evalkit.suite.spec import SuiteSpec

    spec = SuiteSpec.model_validate({"name": "s", "kind": "regression", "data": "data.jsonl",
                                     "scorers": [{"name": "exact_match"}]})
    plain = Suite(spec, Path("."), [], scorers={"exact_match": lambda sample, text: 1.0})
    assert not judged(plain)
    assert judged(Suite(spec, Path("."), [], scorers={"judge": object.__new__(JudgeScorer)}))


def test_unequal_clusters_keep_the_error_rate_and_the_fixed_n_power():
    # general-knowledge's design: 19 relations of 20 facts and 120 questions of their own. Each
    # cluster bets its total minus d times its size (the pooled per-sample mean), so wrong calls
    # stay rare; with 19 big clusters holding three quarters of the samples the sequence cannot
    # rule out 8 points early, and the final look keeps the fixed-n interval's power
    out = simulate_sequential(Scenario("A/A, 19 x 20 + 120", 19, 20, shift=0.05, singletons=120), 30, seed=8)
    assert out.wrong_call <= 0.1 and out.covered >= 0.9
    assert out.ruled_out >= out.fixed_ruled_out - 0.05 and out.fixed_ruled_out >= 0.85


def _suite_and_runs(kind: str, tuned_gain: int):
    """A 192-sample suite: the tuned arm fixes ``tuned_gain`` of every 8 samples the base fails; the
    prompt arm fixes one of every 16 the base fails and breaks one of every 32 it passes (+3 points)."""
    from pathlib import Path

    from evalkit.compare.rundata import RunData, SampleResult
    from evalkit.suite.loader import Suite
    from evalkit.suite.spec import SuiteSpec
    from evalkit.types import Sample

    spec = SuiteSpec.model_validate({"name": "s", "kind": kind, "data": "data.jsonl",
                                     "scorers": [{"name": "exact_match"}]})
    suite = Suite(spec, Path("."), [Sample(id=f"x{i:03d}", input="q", target="a") for i in range(192)])

    def run(score) -> RunData:
        values = {s.id: float(score(i)) for i, s in enumerate(suite.samples)}
        return RunData(suite={"name": "s", "kind": kind, "version": "1"}, arm={},
                       metrics={"primary_metric": "m", "metrics": {"m": {"binary": True}}},
                       samples={k: SampleResult(value=v, passed=v == 1.0) for k, v in values.items()})

    base = run(lambda i: i % 2)
    prompt = run(lambda i: (i % 2 and i % 32 != 1) or i % 16 == 0)
    tuned = run(lambda i: i % 2 or (i % 16) // 2 < tuned_gain)
    return suite, {"base": base, "prompt": prompt, "tuned": tuned}


@pytest.mark.parametrize("kind, settled", [("task", False), ("regression", True)])
def test_a_task_suite_waits_for_the_prompt_arm_and_a_forgetting_suite_for_the_gated_arm(kind, settled):
    # The tuned arm's +37.5 points are shown within three rounds; the prompt arm's +3 are not.
    # A task suite also carries the prompt-only comparison, so it keeps going for the prompt arm;
    # a forgetting suite (the tuned arm's budget ruled out) stops for the gated arm.
    from evalkit.compare.sequential_run import SuiteSequence, decisive_arms, settle

    suite, runs = _suite_and_runs(kind, tuned_gain=6 if kind == "task" else 0)
    seq = SuiteSequence(suite, budget=0.08, role="task" if kind == "task" else "forgetting")
    decisive = decisive_arms(seq.role, {"prompt": "prompt_only", "tuned": "tuned"}, "tuned")
    for _ in range(3):
        seq.next_prefix(32, None)
        settle(seq, runs, "base", ["prompt", "tuned"], SequentialLevels(), decisive, gated=True)
    assert seq.reasons["tuned"] in ("improvement shown", "forgetting ruled out")
    assert seq.settled is settled and seq.used == 96


def test_the_arms_a_suite_waits_for():
    from evalkit.compare.sequential_run import decisive_arms

    kinds = {"prompt": "prompt_only", "other": "tuned", "tuned": "tuned"}
    assert decisive_arms("task", kinds, None) == ["prompt", "other", "tuned"]  # no gate: every candidate
    assert decisive_arms("task", kinds, "tuned") == ["tuned", "prompt"]
    assert decisive_arms("forgetting", kinds, "tuned") == ["tuned"]
    # no tuned arm, so no prompt-only analysis: the gated arm alone
    assert decisive_arms("task", {"same": "base", "prompt": "prompt_only"}, "prompt") == ["prompt"]
