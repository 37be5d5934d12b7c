#!/usr/bin/env python3
"""Whole-process wall time of `evalkit compare` cold (empty cache) against warm (everything cached).

Two workloads, each run as the real CLI in a subprocess, so a warm run pays
what a user's re-run pays (interpreter start, imports, reading the cache,
writing the report):

- ``tour``: the README's step 4, three arms (base, prompt-only, a LoRA
  adapter) on support-triage and general-knowledge with examples/gate.yaml;
- ``nightly``: examples/nightly/run.sh, the tuned arm against its committed
  baseline on its four suites (gk-mc through lm-eval), with history and gate.

Cold and warm runs are interleaved (cache cleared, cold, warm; repeated), in a
temporary ``EVALKIT_HOME`` that borrows the converted model, so the ratio of a
pair is measured under the same load; the load average is printed beside each
run. The tuned arm uses ``--adapter`` if given, else a small random LoRA.
Target: warm at least 20x faster than cold.

    .venv/bin/python bench/warm_path.py [--limit 20] [--repeat 1] [--only tour nightly] [--adapter DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import REPO, emit, model_dir, ratio

TARGET = 20.0
HEAVY = ("torch", "transformers", "peft", "lm_eval")
_IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$")


def spec_text(source: Path, adapter: str) -> str:
    """A copy of an example spec whose ``adapter:`` points at ``adapter``."""
    text = source.read_text(encoding="utf-8")
    return re.sub(r"^adapter: .*$", f"adapter: {adapter}", text, flags=re.MULTILINE)


def workloads(work: Path, adapter: str, limit: int) -> dict[str, list[list[str]]]:
    """Per workload: the commands of one run (``{out}`` marks the output folder); setup runs first."""
    tuned = work / "tuned.yaml"
    tuned.write_text(spec_text(REPO / "examples" / "nightly.yaml", adapter), encoding="utf-8")
    examples = REPO / "examples"
    lim = ["--limit", str(limit)]
    tour = ["compare", str(examples / "base.yaml"), str(examples / "prompt_only.yaml"), str(tuned),
            "--suite", "support-triage", "--suite", "general-knowledge",
            "--gate", str(examples / "gate.yaml"), "--out", "{out}", *lim]
    nightly = ["compare", str(tuned), "--against", str(work / "baselines" / "tuned-nightly.json"),
               "--history", str(work / "history.jsonl"), "--gate", str(examples / "gate-nightly.yaml"),
               "--out", "{out}", "--junit", "{out}/junit.xml", *lim]
    return {"tour": [tour], "nightly": [nightly]}


def nightly_seed(work: Path, env: dict, limit: int) -> None:
    """The nightly example's one-time setup, a first run of the tuned arm saved as its baseline (not timed).

    examples/nightly/README.md seeds with a compare of base and tuned; the
    baseline holds the tuned arm's runs only, so running that arm alone gives
    the same baseline in half the time.
    """
    seed = work / "seed"
    cli(["run", str(work / "tuned.yaml"), "--out", str(seed), "--limit", str(limit)], env)
    cli(["baseline", "save", str(seed), "--arm", "tuned", "--name", "tuned-nightly",
         "--directory", str(work / "baselines")], env)


def cli(args: list[str], env: dict, *, importtime: bool = False) -> tuple[float, set[str]]:
    """Run ``python -m evalkit ARGS``; (wall seconds, modules imported when ``importtime``)."""
    argv = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "evalkit", *args]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):  # 1: a gate failed, which is a result
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-4000:])
        raise SystemExit(f"`evalkit {' '.join(args[:2])}` exited with {done.returncode}")
    modules = {m.group(1).strip() for line in done.stderr.splitlines() if (m := _IMPORTED.match(line))}
    return seconds, modules


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--limit", type=int, default=20, help="samples per suite")
    parser.add_argument("--repeat", type=int, default=1, help="cold/warm pairs per workload")
    parser.add_argument("--only", nargs="*", default=["tour", "nightly"], choices=["tour", "nightly"])
    parser.add_argument("--adapter", default=None, help="a trained adapter for the tuned arm")
    parser.add_argument("--threads", type=int, default=None, help="OMP threads of the evalkit processes")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    folder = model_dir()  # the converted model, pulled into the real home if needed
    report: dict = {"limit": args.limit, "target": TARGET, "cores": os.cpu_count(), "workloads": {}}
    with tempfile.TemporaryDirectory(prefix="evalkit-warm-") as tmp:
        work = Path(tmp)
        home = work / "home"
        (home / "models").mkdir(parents=True)
        name = Path(folder).name
        (home / "models" / name).symlink_to(folder)
        path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env = {**os.environ, "EVALKIT_HOME": str(home), "COLUMNS": "200", "PYTHONPATH": path}
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)
        if args.adapter:
            adapter = args.adapter
        else:
            from compare_cache import random_adapter

            adapter = str(random_adapter(folder, work / "adapter"))
        plans = workloads(work, adapter, args.limit)
        if "nightly" in args.only:
            nightly_seed(work, env, args.limit)
        for workload in args.only:
            pairs = []
            for rep in range(max(1, args.repeat)):
                cli(["cache", "clear"], env)
                row = {}
                for phase in ("cold", "warm"):
                    load = os.getloadavg()[0]
                    out = str(work / f"{workload}-{phase}-{rep}")
                    command = [a.replace("{out}", out) for a in plans[workload][0]]
                    seconds, modules = cli(command, env, importtime=phase == "warm")
                    heavy = sorted({m.split(".")[0] for m in modules} & set(HEAVY))
                    row[phase] = {"wall_s": round(seconds, 2), "load_avg_1m": round(load, 2)}
                    if phase == "warm":
                        row[phase]["heavy_imports"] = heavy
                    print(f"  {workload} {phase}: {seconds:.2f}s (load average {load:.1f})"
                          + (f", heavy imports: {heavy or 'none'}" if phase == "warm" else ""), flush=True)
                row["speedup"] = ratio(row["cold"]["wall_s"], row["warm"]["wall_s"])
                pairs.append(row)
            best = max(pairs, key=lambda r: r["speedup"])
            worst = min(pairs, key=lambda r: r["speedup"])
            verdict = "met" if worst["speedup"] >= TARGET else "NOT met"
            print(f"  {workload}: warm {worst['speedup']}x faster than cold (worst pair; best "
                  f"{best['speedup']}x; target >= {TARGET}x: {verdict})", flush=True)
            report["workloads"][workload] = {"pairs": pairs, "speedup": worst["speedup"],
                                             "met": worst["speedup"] >= TARGET}
    report["met"] = all(w["met"] for w in report["workloads"].values())
    report["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    emit(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
