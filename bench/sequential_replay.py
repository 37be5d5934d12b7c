#!/usr/bin/env python3
"""Replay finished runs through ``--sequential``'s stopping rule: where would each suite have stopped?

Reads a compare's run folders (default: the committed ``reports/demo``, its ``comparison.json``
naming the arms, reference first) and feeds each sequential-eligible suite to the same
:func:`~evalkit.compare.sequential_run.settle` that ``evalkit compare --sequential`` calls, a
round of 32 samples at a time in the suite's seeded order, judged for the gate's arm. Nothing is
generated, so it takes seconds: the real data's stopping point, per suite, against the fixed-n
samples. ``--truncation`` replays with the bets capped at another fraction (the shipped rule's is
:data:`evalkit.compare.sequential.TRUNCATION`), the baseline for a change to the bets, measured
on the same data in the same run.

    .venv/bin/python bench/sequential_replay.py [--report reports/demo] [--gate examples/gate.yaml] \\
        [--truncation 0.5 0.75]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from benchlib import REPO, emit

TARGET_SHARE = 0.40


def replay_suite(name: str, runs: dict[str, Path], kinds: dict[str, str], gate, levels,
                 min_effect: float) -> dict:
    """One suite's rounds: samples used, why it stopped, and each candidate's interval at the stop."""
    from evalkit.compare.rundata import load_run_dir
    from evalkit.compare.sequential_run import SuiteSequence, _role, budget_for, decisive_arms, settle
    from evalkit.suite.loader import load_suite

    suite = load_suite(name, build_scorers=False)
    by_id = {s.id: s for s in suite.samples}
    full = {arm: load_run_dir(folder, by_id, cluster_field=suite.spec.cluster_field)
            for arm, folder in runs.items()}
    reference, *candidates = runs
    seq = SuiteSequence(suite, budget=budget_for(suite, gate, min_effect), role=_role(suite))
    while not seq.settled:
        seq.next_prefix(32, suite.spec.cluster_field)
        ids = {s.id for s in suite.samples[: seq.used]}
        cut = {arm: replace(run, samples={k: v for k, v in run.samples.items() if k in ids})
               for arm, run in full.items()}
        settle(seq, cut, reference, candidates, levels, decisive_arms(seq.role, kinds, gate.arm), gated=True)
    return {"used": seq.used, "total": seq.total, "reason": seq.reason,
            "intervals": {arm: [round(lo, 4), round(hi, 4)] for arm, (lo, hi) in seq.intervals.items()}}


def replay(report: Path, gate_path: Path, truncation: float) -> dict:
    """Every sequential-eligible suite of ``report`` replayed with the bets truncated at ``truncation``."""
    import evalkit.compare.sequential as sequential
    from evalkit.compare.gate import load_gate
    from evalkit.compare.sequential import SequentialLevels

    doc = json.loads((report / "comparison.json").read_text())
    arms = [a["name"] for a in doc["arms"]]
    gate = load_gate(gate_path)
    if gate.arm is None:
        gate = gate.model_copy(update={"arm": arms[-1]})
    suites = [s for s in doc["suites"] if not s.get("skipped") and s["kind"] != "lm-eval"]
    scored = sum(1 for s in doc["suites"] if s["n"])
    family = (doc.get("sequential") or {}).get("family") or (len(arms) - 1) * scored
    levels = SequentialLevels(0.05, family=family)  # the compare's own family when it ran --sequential
    folders = {arm: next(report.glob(f"runs/{arm}-*")) for arm in arms}
    shipped, sequential.TRUNCATION = sequential.TRUNCATION, truncation
    try:
        kinds = {a["name"]: a["kind"] for a in doc["arms"][1:]}
        out = {s["name"]: replay_suite(s["name"], {arm: folders[arm] / s["name"] for arm in arms}, kinds,
                                       gate, levels, doc["metadata"]["options"]["min_effect"])
               for s in suites}
    finally:
        sequential.TRUNCATION = shipped
    return out


def main(argv: list[str] | None = None) -> int:
    """Print each suite's stopping point per truncation, and the share of the fixed-n samples used."""
    from evalkit.compare.sequential import TRUNCATION

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=REPO / "reports" / "demo")
    parser.add_argument("--gate", type=Path, default=REPO / "examples" / "gate.yaml")
    parser.add_argument("--truncation", type=float, nargs="+", default=[0.5, TRUNCATION])
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--threads", type=int, help="ignored (nothing is generated); for run_all")
    args = parser.parse_args(argv)
    results = {}
    for c in args.truncation:
        suites = replay(args.report, args.gate, c)
        used, total = sum(s["used"] for s in suites.values()), sum(s["total"] for s in suites.values())
        print(f"bets truncated at {c}{' (shipped)' if c == TRUNCATION else ''}:")
        for name, s in suites.items():
            shown = ", ".join(f"{arm} [{lo:+.3f}, {hi:+.3f}]" for arm, (lo, hi) in s["intervals"].items())
            print(f"  {name:20} {s['used']:4}/{s['total']:<4} {s['reason']:45} {shown}")
        print(f"  samples used: {used}/{total} = {used / total:.0%} of fixed n "
              f"(target <= {TARGET_SHARE:.0%})")
        results[str(c)] = {"suites": suites, "used": used, "total": total}
    emit({"report": str(args.report), "replays": results}, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
