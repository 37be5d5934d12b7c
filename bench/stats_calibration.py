#!/usr/bin/env python3
"""Calibration of evalkit's verdicts: seeded simulations next to their targets.

For each design (independent or clustered samples, pass/fail or partial-credit scores, repeated
draws) it simulates suites with a known truth and runs the same code ``evalkit compare`` runs,
then prints:

* the A/A false-positive rate (a change called where none exists; target <= 5%), next to the
  rate of the independent-sample procedure evalkit used before clusters ("before");
* the interval's coverage of the true difference (target 93-97%);
* power at planted 5- and 10-point drops at the sample size evalkit promises (target >= 80%,
  judged within two simulation standard errors);
* the prompt-only share's interval coverage.

    .venv/bin/python bench/stats_calibration.py [--trials 1000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evalkit.compare.calibration import (  # noqa: E402
    SCENARIOS,
    Scenario,
    promised_power,
    simulate,
    simulate_sequential,
    simulate_share,
)


def _flag(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> int:
    """Print the calibration table; exit 0 (the figures are the result, not a pass/fail)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--sequential-trials", type=int, default=None, help="default: trials / 5")
    parser.add_argument("--only-sequential", action="store_true", help="print the sequential table only")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = []
    if args.only_sequential:
        return _sequential_table(args, rows, started)
    print(f"A/A (no true difference), {args.trials} trials each")
    print(f"{'design':48} {'false pos.':>10} {'before':>8} {'coverage':>9} {'width':>7}")
    for key, make in SCENARIOS.items():
        sizes = (50, 160, 300) if key.startswith("independent") else (0,)
        for n in sizes:
            out = simulate(make(n), args.trials, seed=args.seed + n)
            fp_ok, cov_ok = out.change_called <= 0.05 + 1e-9, 0.93 <= out.coverage <= 0.97
            print(f"{out.scenario:48} {out.change_called:>9.1%}  {out.naive_change_called:>7.1%} "
                  f"{out.coverage:>8.1%}  {out.mean_width * 100:>5.1f}pt  "
                  f"[{_flag(fp_ok)} / {_flag(cov_ok)}]")
            rows.append({"kind": "aa", **out.__dict__})
    print(f"\nPower at the n evalkit promises for 80% ('need ~N'), {args.trials // 2} trials each")
    drops = [
        Scenario("independent pass/fail, 5-pt drop", 300, 1, delta=-0.05),
        Scenario("independent pass/fail, 10-pt drop", 100, 1, delta=-0.10),
        Scenario("independent partial credit, 5-pt drop", 100, 1, delta=-0.05, checks=4),
        Scenario("independent partial credit, 10-pt drop", 100, 1, delta=-0.10, checks=4),
        Scenario("clusters of 16 with shift, 10-pt drop", 10, 16, delta=-0.10, shift=0.1),
        Scenario("5 draws per item, 10-pt drop", 40, 1, delta=-0.10, draws=5, shift=0.1),
    ]
    for s in drops:
        n, power = promised_power(s, args.trials // 2, seed=args.seed)
        noise = 2 * (0.8 * 0.2 / (args.trials // 2)) ** 0.5  # two simulation standard errors
        print(f"{s.name:48} n={n:<6} power {power:6.1%}  [{_flag(power >= 0.8 - noise)}]")
        rows.append({"kind": "power", "scenario": s.name, "promised_n": n, "power": power})
    print("\nPrompt-only share (Fieller interval), n=160")
    for gain_prompt in (0.15, 0.27):
        coverage, decided = simulate_share(args.trials // 2, gain_prompt=gain_prompt, seed=args.seed)
        truth = gain_prompt / 0.3
        print(f"true share {truth:.0%}: coverage {coverage:6.1%} [{_flag(0.93 <= coverage <= 0.97)}], "
              f"decided vs the 80% line in {decided:.0%} of trials")
        rows.append({"kind": "share", "truth": truth, "coverage": coverage, "decided": decided})
    return _sequential_table(args, rows, started)


def _sequential_table(args: argparse.Namespace, rows: list[dict], started: float) -> int:
    """The sequential rule's simulations (and the closing lines of the run)."""
    seq_trials = args.sequential_trials or args.trials // 5
    print(f"\nSequential (a look after every round of 32, budget 8 pt), {seq_trials} trials each; "
          "'fixed' = the fixed-n analysis of the whole suite on the same data")
    drop = "regression"
    sequential = [
        (Scenario("A/A, 541 partial-credit prompts", 541, 1, checks=4), drop, True),
        (Scenario("A/A, 160 pass/fail, task suite", 160, 1), "task", True),
        (Scenario("A/A, 10 templates x 16", 10, 16, shift=0.2), drop, True),
        (Scenario("A/A, 25 clusters x 20", 25, 20, shift=0.1), drop, True),
        (Scenario("20-pt gain, 160 pass/fail, task suite", 160, 1, delta=0.20), "task", True),
        (Scenario("5-pt drop, 541 partial-credit, gated", 541, 1, delta=-0.05, checks=4), drop, True),
        (Scenario("5-pt drop, 541 partial-credit, no gate", 541, 1, delta=-0.05, checks=4), drop, False),
        (Scenario("8-pt drop (the budget), 541 partial-credit", 541, 1, delta=-0.08, checks=4), drop, True),
        (Scenario("10-pt drop, 541 partial-credit prompts", 541, 1, delta=-0.10, checks=4), drop, True),
    ]
    print(f"{'design':48} {'wrong':>6} {'regr. shown':>12} {'passes gate':>12} {'samples':>9} "
          f"{'coverage':>9}")
    for s, role, gated in sequential:
        out = simulate_sequential(s, seq_trials, seed=args.seed, role=role, gated=gated)
        print(f"{s.name:48} {out.wrong_call:6.1%} {out.regression_shown:5.0%} "
              f"(fixed {out.fixed_regression_shown:4.0%}) {out.ruled_out:5.0%} "
              f"(fixed {out.fixed_ruled_out:4.0%}) {out.mean_samples:5.0f}/{s.n:<4} {out.covered:8.1%}")
        rows.append({"kind": "sequential", "role": role, "gated": gated, **out.__dict__})
    print(f"\n{time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
