"""The checkpoint curve's bookkeeping: deltas, task gain vs forgetting, Pareto front, budget, best pick."""

from __future__ import annotations

from evalkit.train.checkpoints import curve_entry, mark_front

KINDS = {"triage": "task", "extract": "task", "general": "general", "safety": "regression"}
BASE = {"triage": 0.2, "extract": 0.4, "general": 0.6, "safety": 0.9}


def _entry(step: int, triage: float, extract: float, general: float, safety: float) -> dict:
    scores = {"triage": triage, "extract": extract, "general": general, "safety": safety}
    return curve_entry(step, f"ckpt-{step}", scores, BASE, KINDS)


def test_entry_means_deltas_by_suite_kind():
    entry = _entry(10, 0.6, 0.5, 0.55, 0.9)
    assert entry["task_gain"] == 0.25 and entry["forgetting"] == -0.025
    assert entry["scores"]["triage"] == {"score": 0.6, "base": 0.2, "delta": 0.4, "kind": "task"}
    missing = curve_entry(1, "x", {"triage": None, "general": 0.6}, BASE, KINDS)
    assert missing["task_gain"] is None and missing["forgetting"] == 0.0


def test_front_budget_and_best():
    entries = [
        _entry(10, 0.3, 0.4, 0.6, 0.9),    # gain 0.05, forgetting 0      -> pareto, accepted
        _entry(20, 0.5, 0.5, 0.59, 0.9),   # gain 0.2,  forgetting -0.005 -> pareto, accepted (best)
        _entry(30, 0.4, 0.4, 0.55, 0.85),  # gain 0.1,  forgetting -0.05  -> dominated by 20
        _entry(40, 0.8, 0.6, 0.5, 0.8),    # gain 0.4,  forgetting -0.1   -> pareto, over budget
    ]
    best = mark_front(entries, budget=0.02)
    assert [e["pareto"] for e in entries] == [True, True, False, True]
    assert [e["accepted"] for e in entries] == [True, True, False, False]
    assert best == "ckpt-20"
    assert mark_front(entries, budget=0.2) == "ckpt-40"
    assert mark_front([_entry(5, 0.2, 0.4, 0.3, 0.5)], budget=0.02) is None


def test_ties_prefer_the_earlier_checkpoint():
    entries = [_entry(10, 0.3, 0.4, 0.6, 0.9), _entry(20, 0.3, 0.4, 0.6, 0.9)]
    assert mark_front(entries, budget=0.02) == "ckpt-10"
    assert all(e["pareto"] for e in entries)
