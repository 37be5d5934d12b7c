"""Brent's method finds the roots scipy.optimize.brentq finds, to the tolerance asked."""

import math

import numpy as np
import pytest
from scipy import optimize

from evalkit.compare.paired import prepare_pairs, score_interval, variance_model
from evalkit.compare.roots import brent_root

FUNCTIONS = [  # f, bracket, the root
    (lambda x: x**3 - 2 * x - 5, 2.0, 3.0, 2.0945514815423265),  # the classic test function
    (lambda x: math.cos(x) - x, 0.0, 1.0, 0.7390851332151607),
    (lambda x: math.exp(x) - 1e6, 0.0, 20.0, math.log(1e6)),
    (lambda x: (x - 0.3) ** 9, -1.0, 1.0, 0.3),  # flat: interpolation is useless, bisection has to carry it
    (lambda x: math.copysign(1.0, x - 0.123456789), -1.0, 1.0, 0.123456789),  # a step, no smooth root
    (lambda x: math.atan(1e4 * (x - 0.7)), -5.0, 5.0, 0.7),
]


@pytest.mark.parametrize("index", range(len(FUNCTIONS)))
@pytest.mark.parametrize("xtol", [1e-6, 1e-10, 1e-13])
def test_finds_the_root_to_the_tolerance_and_agrees_with_brentq(index, xtol):
    f, a, b, root = FUNCTIONS[index]
    ours = brent_root(f, a, b, xtol=xtol)
    assert abs(ours - root) <= xtol + 8e-16 * abs(root)
    if xtol >= 1e-10:  # brentq gives up on the flat function at 1e-13; this one does not
        assert abs(ours - optimize.brentq(f, a, b, xtol=xtol)) <= 2 * xtol + 8e-16 * abs(root)


def test_exact_roots_at_the_ends_and_a_bad_bracket():
    assert brent_root(lambda x: x - 1.0, 1.0, 2.0) == 1.0
    assert brent_root(lambda x: x - 2.0, 1.0, 2.0) == 2.0
    with pytest.raises(ValueError, match="do not bracket"):
        brent_root(lambda x: x * x + 1, -1.0, 1.0)


def test_score_intervals_match_brentq_on_random_paired_data():
    rng = np.random.default_rng(7)
    for trial in range(60):
        n = int(rng.integers(5, 400))
        binary = trial % 2 == 0
        ref = rng.integers(0, 2, n).astype(float) if binary else rng.random(n)
        cand = np.clip(ref + rng.normal(0.05, 0.3, n), 0, 1)
        cand = np.round(cand) if binary else cand
        ids = [f"s{i}" for i in range(n)]
        clusters = {i: k // 4 for k, i in enumerate(ids)} if trial % 3 == 0 else None
        pairs = prepare_pairs(dict(zip(ids, ref)), dict(zip(ids, cand)), clusters=clusters, binary=binary)
        model = variance_model(pairs)
        low, high = score_interval(model, 0.95)
        crit = model.critical(0.95)
        est = (model.b - model.a) / model.n
        for end, sign in ((low, 1.0), (high, -1.0)):
            if abs(end) == model.scale:  # the interval reached the edge: no root to find
                continue
            f = lambda x, s=sign, m=model, c=crit: s * m.statistic(x) - c  # noqa: E731
            bracket = (-1 + 1e-12, min(est, 1 - 1e-12)) if sign > 0 else (max(est, -1 + 1e-12), 1 - 1e-12)
            assert abs(end / model.scale - optimize.brentq(f, *bracket, xtol=1e-10)) < 3e-10

