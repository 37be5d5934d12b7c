#!/usr/bin/env python3
"""The demo's compare run twice, fixed-n and ``--sequential``: samples generated, wall time, same verdicts?

Each mode runs as a whole ``evalkit compare`` process with its own empty cache (a fresh
``EVALKIT_HOME`` that links the already converted models), so neither run is served by the
other's generations. Reported per mode: generations made (every arm × sample), wall time, and
per suite and candidate the verdict; then the sequential run's share of the fixed-n samples
and time (target: at most 40 % of the samples) and whether every verdict and the gate agree.
``--reuse-cache`` runs both in the normal cache instead, sequential first, so after ``make demo``
the fixed-n run generates only what the sequential one skipped (samples and verdicts compare;
wall times do not). ``--modes`` picks the runs; ``each-round`` is ``--sequential
--generate-ahead 0`` (every round generated on its own, 32 prompts to an engine call), the
baseline for generating ahead in engine batches: same looks, same numbers, less wall time.

    .venv/bin/python bench/sequential_vs_fixed.py [--adapter runs/demo-adapter] [--limit N] [--reuse-cache]
    .venv/bin/python bench/sequential_vs_fixed.py --suite ifeval-lite --limit 128 \\
        --modes each-round sequential
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import REPO, emit, ratio

TARGET_SHARE = 0.40
DEMO_SUITES = ["support-triage", "general-knowledge", "ifeval-lite", "gk-mc"]


def fresh_home(root: Path) -> Path:
    """An empty evalkit home whose ``models`` links the real one (no re-conversion, no cache)."""
    from evalkit.home import models_dir

    home = root / "home"
    home.mkdir(parents=True)
    (home / "models").symlink_to(models_dir(), target_is_directory=True)
    return home


MODES = {"fixed-n": [], "sequential": ["--sequential"],
         "each-round": ["--sequential", "--generate-ahead", "0"]}


def run_compare(specs: list[str], suites: list[str], out: Path, *, mode: str, limit: int | None,
                home: Path | None, dtype: str = "auto") -> tuple[dict, float, int]:
    """(comparison document, wall seconds, exit code) of one whole ``evalkit compare`` process."""
    args = [sys.executable, "-m", "evalkit", "compare", *specs, "--gate", "examples/gate.yaml",
            "--out", str(out), "--dtype", dtype, *[a for s in suites for a in ("--suite", s)]]
    args += MODES[mode]
    if limit:
        args += ["--limit", str(limit)]
    env = {**os.environ, **({"EVALKIT_HOME": str(home)} if home else {})}
    started = time.perf_counter()
    code = subprocess.call(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    if code not in (0, 1):
        raise SystemExit(f"evalkit compare exited {code} ({mode})")
    return json.loads((out / "comparison.json").read_text(encoding="utf-8")), seconds, code


def generations(doc: dict) -> int:
    """Samples generated over every arm: the sequential log's counts where a suite ran in rounds."""
    arms = len(doc["arms"])
    rounds = (doc.get("sequential") or {}).get("suites", {})
    total = 0
    for suite in doc["suites"]:
        if suite.get("skipped"):
            continue
        total += rounds[suite["name"]]["generated"] if suite["name"] in rounds else suite["n"] * arms
    return total


def verdicts(doc: dict) -> dict[str, str]:
    """'suite / candidate' -> verdict word, for every delta of the comparison."""
    return {f"{s['name']} / {d['arm']}": d["verdict"] for s in doc["suites"] if not s.get("skipped")
            for d in s["deltas"]}


def main(argv: list[str] | None = None) -> int:
    """Run both modes and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--adapter", default="runs/demo-adapter", help="the demo's trained adapter folder")
    parser.add_argument("--suite", action="append", default=None, help="suites (default: the demo's)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N samples of each suite")
    parser.add_argument("--threads", type=int, default=None, help="torch threads of each compare process")
    parser.add_argument("--dtype", default="auto", help="every arm's dtype (the demo's: auto)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--reuse-cache", action="store_true",
                        help="both modes in the normal evalkit cache, sequential first (e.g. after "
                             "`make demo`): samples and verdicts compare, wall times do not")
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=["fixed-n", "sequential"],
                        help="runs to make, in this order")
    args = parser.parse_args(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    tuned = REPO / args.adapter / "tuned.yaml"
    if not tuned.is_file():
        print(f"no trained adapter at {tuned.parent}: run `make demo` first (or pass --adapter)",
              file=sys.stderr)
        return 2
    specs = ["examples/base.yaml", "examples/prompt_only.yaml", str(tuned)]
    suites = args.suite or DEMO_SUITES
    results = {}
    with tempfile.TemporaryDirectory(prefix="evalkit-seq-bench-") as tmp:
        modes = sorted(args.modes, key=lambda m: m == "fixed-n") if args.reuse_cache else args.modes
        for mode in modes:
            home = None if args.reuse_cache else fresh_home(Path(tmp) / mode)
            print(f"  {mode}: running the compare ...", flush=True)
            doc, seconds, code = run_compare(specs, suites, Path(tmp) / mode / "out", home=home,
                                             mode=mode, limit=args.limit,
                                             dtype=args.dtype)
            results[mode] = {"seconds": round(seconds, 1), "generations": generations(doc), "gate_exit": code,
                             "verdicts": verdicts(doc), "load_avg_1m": round(os.getloadavg()[0], 2),
                             "stopping": (doc.get("sequential") or {}).get("suites"),
                             "rounds": (doc.get("sequential") or {}).get("rounds")}
            made = results[mode]["generations"]
            print(f"  {mode}: {made} generations in {seconds:.0f} s, gate exit {code}")
    if "each-round" in results and "sequential" in results:
        each, ahead = results["each-round"], results["sequential"]
        same = each["rounds"] == ahead["rounds"] and each["verdicts"] == ahead["verdicts"]
        print(f"\ngenerating ahead: {ahead['seconds']} s against {each['seconds']} s each round on its own "
              f"(x{ratio(each['seconds'], ahead['seconds'])}); "
              f"{ahead['generations']} vs {each['generations']} generations; "
              f"{'the same rounds and verdicts' if same else 'ROUNDS OR VERDICTS DIFFER'}")
    if not {"fixed-n", "sequential"} <= results.keys():
        emit(results, args.json)
        return 0
    fixed, seq = results["fixed-n"], results["sequential"]
    share = ratio(seq["generations"], fixed["generations"])
    disagree = {key: (word, seq["verdicts"].get(key)) for key, word in fixed["verdicts"].items()
                if seq["verdicts"].get(key) != word}
    time_share = ratio(seq["seconds"], fixed["seconds"])
    timing = ("wall times not comparable (--reuse-cache)" if args.reuse_cache
              else f"{time_share:.0%} of the wall time")
    print(f"\nsequential used {seq['generations']} of {fixed['generations']} generations ({share:.0%};"
          f" target <= {TARGET_SHARE:.0%}); {timing}")
    for name, row in (seq["stopping"] or {}).items():
        print(f"  {name}: {row['used']}/{row['total']} samples, {row['reason']}")
    print("every verdict agrees" if not disagree else "verdicts that differ (fixed-n, sequential):")
    for key, (a, b) in disagree.items():
        print(f"  {key}: {a} vs {b}")
    print(f"gate exit: fixed-n {fixed['gate_exit']}, sequential {seq['gate_exit']}")
    emit({"fixed_n": fixed, "sequential": seq, "generation_share": share, "target_share": TARGET_SHARE,
          "verdicts_differ": disagree}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
