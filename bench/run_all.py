#!/usr/bin/env python3
"""Run every bench script, one after another, and summarise the targets.

Each script runs in its own process with its default settings (``--quick``
uses smaller workloads), writes its JSON report into ``--out`` (default
``runs/bench``), and prints its own figures and ratios against the
baseline it measures in the same run. Scripts owned by other parts of the
project (lm-eval and served throughput, training overhead) run too when
present; ``--only``/``--skip`` choose.

    .venv/bin/python bench/run_all.py [--quick] [--threads N] [--only generation_throughput ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# name -> (extra args for a full run, extra args for --quick, takes --json/--threads)
SCRIPTS = {
    "generation_throughput": ([], ["--n", "32"], True),
    "compare_cache": ([], ["--limit", "16"], True),
    "warm_path": ([], ["--limit", "8"], True),
    "arms_memory": ([], ["--n", "8", "--max-new-tokens", "8"], True),
    "matmul_peak": (["--with-hf"], ["--n", "16"], True),
    "precision_threads": ([], ["--n", "16", "--repeat", "1", "--thread-n", "8", "--warmup", "10"], True),
    "lmeval_throughput": ([], [], False),
    "lmeval_shared_prefix": ([], ["--limit", "25"], False),
    "served_throughput": ([], [], False),
    "train_overhead": ([], [], False),
    "sequential_vs_fixed": ([], ["--limit", "96"], True),
    "sequential_replay": ([], [], True),
    "ahead_occupancy": ([], ["--n", "64", "--max-new-tokens", "32"], True),
    "train_throughput": ([], ["--steps", "4", "--threads", "1"], True),
    "engines": ([], ["--samples", "8", "--dtypes", "float32"], True),
    "row_blocks": ([], ["--n", "16", "--max-new-tokens", "32"], True),
    "batch_invariance": ([], ["--n", "16", "--max-new-tokens", "32"], True),
    "decode_attention": ([], ["--n", "16", "--max-new-tokens", "32", "--repeat", "1"], True),
}


def summary_line(name: str, report: dict) -> str | None:
    """The headline figure of one script's JSON report."""
    if name == "generation_throughput":
        lm = report["paths"].get("lm-eval HFLM generate_until")
        if lm:
            verdict = "met" if lm["engine_speedup"] >= 1.5 else "NOT met"
            return f"engine {lm['engine_speedup']}x lm-eval's HF backend (target >= 1.5x: {verdict})"
    verdict = "met" if report.get("met") else "NOT met"
    if name == "compare_cache":
        return f"warm compare {report['speedup']}x faster than cold (target >= 20x: {verdict})"
    if name == "warm_path":
        figures = ", ".join(f"{w} {r['speedup']}x" for w, r in report["workloads"].items())
        return f"whole-process warm re-run vs cold: {figures} (target >= 20x: {verdict})"
    if name == "arms_memory":
        rss = report["3 arms, one load"]["rss_vs_one_arm"]
        return f"3 arms on one load: {rss}x one arm's peak RSS (target <= 1.2x: {verdict})"
    if name == "precision_threads" and "precision" in report:
        lm = report["precision"]["paths"].get("lm-eval HFLM float32")
        line = f"engine bfloat16 {report['bf16_vs_fp32_engine']}x engine float32"
        if lm:
            line += (f", {lm['vs_engine_bf16_wall']}x lm-eval's HFLM in float32 "
                     f"(target >= 3x: {'met' if report['met'] else 'NOT met'})")
        return line
    if name == "train_throughput":
        fig = report.get("after_vs_trl", {})
        before = report.get("after_vs_before", {})
        return (f"packed+bf16 training {fig.get('tokens_per_cpu_s')}x plain TRL's tokens per CPU-second "
                f"(target >= 2x: {verdict}), {before.get('tokens_per_cpu_s')}x and "
                f"{before.get('peak_rss')}x peak RSS vs the previous path")
    if name == "row_blocks":
        settings = report["settings"].items()
        return ", ".join(f"{k} {v['decode_rows_per_s']} rows/s (x{v['speedup']})" for k, v in settings)
    if name == "decode_attention" and report.get("end_to_end"):
        e2e = report["end_to_end"]
        return (f"compiled decode attention: {e2e['speedup']}x the float32 torch path end to end "
                f"({e2e['prompts']} ifeval-lite prompts), identical outputs {e2e['identical_outputs']}")
    if name == "batch_invariance":
        differ = ", ".join(f"{k} {v['differ']}" for k, v in report["settings"].items())
        return f"greedy outputs of {report['n']} differing from the first setting: {differ} (target: all 0)"
    if name == "matmul_peak":
        engine = report["paths"]["evalkit engine"]
        return f"engine useful work = {engine['fraction_of_peak']:.0%} of the fp32 matmul peak"
    if name == "sequential_vs_fixed":
        share = report["generation_share"]
        verdict = "met" if share <= report["target_share"] else "NOT met"
        return f"--sequential made {share:.0%} of the fixed-n generations (target <= 40%: {verdict})"
    if name == "sequential_replay":
        figures = ", ".join(f"bets at {c}: {r['used']}/{r['total']}" for c, r in report["replays"].items())
        return f"committed demo runs replayed through --sequential: {figures} samples (target <= 40%)"
    if name == "engines":
        quiet = {r["path"]: r for r in report["rows"] if r["dtype"] == "float32" and r["load"] == "quiet"}
        vllm, served = quiet["vllm"], quiet["served"]
        return (f"fp32 quiet: in-process vLLM {vllm['speed_vs_hf']}x, served {served['speed_vs_hf']}x "
                f"the HF engine; identical texts {vllm['identical_share']:.0%} / "
                f"{served['identical_share']:.0%}")
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--quick", action="store_true", help="smaller workloads (minutes, not an hour)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for every script")
    parser.add_argument("--only", nargs="*", default=None, choices=sorted(SCRIPTS))
    parser.add_argument("--skip", nargs="*", default=[], choices=sorted(SCRIPTS))
    parser.add_argument("--out", default=str(HERE.parent / "runs" / "bench"), help="JSON reports folder")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines, failed = [], []
    for name, (full, quick, ours) in SCRIPTS.items():
        script = HERE / f"{name}.py"
        if not script.is_file() or name in args.skip or (args.only is not None and name not in args.only):
            continue
        command = [sys.executable, str(script), *(quick if args.quick else full)]
        if ours:
            command += ["--json", str(out / f"{name}.json")]
            command += ["--threads", str(args.threads)] if args.threads else []
        print(f"\n== {name} (load average {os.getloadavg()[0]:.1f}) ==", flush=True)
        started = time.perf_counter()
        code = subprocess.run(command, cwd=HERE.parent).returncode
        print(f"== {name}: exit {code}, {time.perf_counter() - started:.0f}s", flush=True)
        if code:
            failed.append(name)
        elif ours and (out / f"{name}.json").is_file():
            line = summary_line(name, json.loads((out / f"{name}.json").read_text()))
            if line:
                lines.append(f"{name}: {line}")
    print("\n== summary ==")
    for line in lines:
        print(line)
    for name in failed:
        print(f"{name}: FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
