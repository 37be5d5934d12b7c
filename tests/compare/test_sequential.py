"""The anytime-valid confidence sequence and the sequential stopping rule (reduced calibration)."""

from __future__ import annotations

import numpy as np
import pytest

from evalkit.compare.calibration import Scenario, simulate_sequential
from evalkit.compare.sequential import BettingConfidenceSequence, decide_suite


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


def test_stop_rule_per_role():
    assert decide_suite(0.01, 0.2, role="task", budget=0.08, exhausted=False).reason == "improvement shown"
    assert decide_suite(-0.05, 0.03, role="regression", budget=0.08, exhausted=False).reason == (
        "forgetting ruled out")
    shown = decide_suite(-0.2, -0.01, role="general", budget=0.08, exhausted=False)
    assert shown.reason == "regression shown"
    assert not decide_suite(-0.1, 0.05, role="regression", budget=0.08, exhausted=False).settled
    assert decide_suite(-0.1, 0.05, role="regression", budget=0.08, exhausted=True).reason == "exhausted"


def test_an_unchanged_model_passes_a_541_prompt_forgetting_suite_early():
    out = simulate_sequential(Scenario("A/A", 541, 1, checks=4), 30, seed=3)
    assert out.wrong_call <= 0.1 and out.ruled_out >= 0.85  # 30 trials: the 5% target plus noise
    assert out.mean_samples < 0.4 * 541  # decided on well under half the suite


def test_a_planted_ten_point_drop_is_shown_and_never_ruled_out():
    out = simulate_sequential(Scenario("drop", 541, 1, delta=-0.10, checks=4), 30, seed=4)
    assert out.regression_shown >= 0.9 and out.ruled_out == 0
    assert out.covered >= 0.9
