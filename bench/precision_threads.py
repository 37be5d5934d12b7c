#!/usr/bin/env python3
"""Engine tokens/s in bfloat16 vs float32 vs lm-eval's HFLM, and 1 vs 2 torch threads, quiet and loaded.

Part 1, precision: the same support-triage prompts (suite template, chat
template), greedy, same ``max_new_tokens`` and batch size, on one torch
thread, paths interleaved ``--repeat`` times (fastest run counts):

* ``engine bfloat16`` / ``engine float32``: ``HFBackend.generate``;
* ``lm-eval HFLM float32`` (lm-eval's default on this float32 checkpoint)
  and ``lm-eval HFLM bfloat16``: ``generate_until`` with its own model load.

Ratios are the other paths' seconds over ``engine bfloat16``'s, in wall and
in process CPU time; ``identical`` is the share of outputs equal to the
float32 engine's.

Part 2, threads: the bfloat16 engine on a smaller workload with 1 and 2
threads and with evalkit's automatic choice (``evalkit.models.threads``),
first as the machine is, then with ``--burners`` CPU-burning processes
started by this script (they run ``--warmup`` seconds first, so the load
average sees them). Every figure comes with the load average it ran under.

    .venv/bin/python bench/precision_threads.py [--n 64] [--batch-size 32] [--max-new-tokens 48]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time

from benchlib import emit, machine, model_dir, ratio, round_robin, timed_cpu, triage_prompts


def burn(stop, parent: int) -> None:
    """Keep one core busy until ``stop`` is set or the bench process is gone (killed, not stopped)."""
    x = 0
    while not stop.is_set() and os.getppid() == parent:
        for _ in range(100_000):
            x += 1


def hflm_runner(folder: str, dtype: str, prompts, max_new_tokens: int, batch_size: int):
    """A callable running lm-eval's HFLM ``generate_until`` on the prompts (its own model load, here)."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=folder, dtype=dtype, device="cpu", batch_size=batch_size)
    kwargs = {"until": [], "max_gen_toks": max_new_tokens, "do_sample": False}
    requests = [Instance(request_type="generate_until", doc={}, arguments=(p, dict(kwargs)), idx=i)
                for i, (_, p) in enumerate(prompts)]
    return lambda: lm.generate_until(requests, disable_tqdm=True)


def with_threads(setting: str | None, fn):
    """Run ``fn`` with ``EVALKIT_THREADS`` set to ``setting`` (None: evalkit chooses); returns its result."""
    previous = os.environ.pop("EVALKIT_THREADS", None)
    if setting is not None:
        os.environ["EVALKIT_THREADS"] = setting
    try:
        return fn()
    finally:
        os.environ.pop("EVALKIT_THREADS", None)
        if previous is not None:
            os.environ["EVALKIT_THREADS"] = previous


def precision_part(args, folder, pool) -> dict:
    from evalkit.models.loader import load_model
    from evalkit.models.spec import GenerationConfig, ModelSpec

    arms = {dtype: load_model(ModelSpec(base=folder, dtype=dtype), pool=pool)
            for dtype in ("bfloat16", "float32")}
    prompts = triage_prompts(arms["float32"].backend, args.n)
    config = GenerationConfig(max_new_tokens=args.max_new_tokens)

    def engine(dtype):
        def run():
            arms[dtype].backend._prefixes.clear()  # every run pays for its shared prefix
            gens = arms[dtype].backend.generate(prompts, config, batch_size=args.batch_size)
            return [g.text for g in gens], sum(g.new_tokens for g in gens)
        return run

    paths = {"engine bfloat16": engine("bfloat16"), "engine float32": engine("float32")}
    if not args.skip_lmeval:
        for dtype in ("float32", "bfloat16"):
            paths[f"lm-eval HFLM {dtype}"] = hflm_runner(folder, dtype, prompts, args.max_new_tokens,
                                                          args.batch_size)
    load_before = os.getloadavg()[0]
    runs = with_threads("1", lambda: round_robin(paths, args.repeat))
    reference = runs["engine float32"]["result"][0]
    ours = runs["engine bfloat16"]
    work = ours["result"][1]
    report = {"prompts": len(prompts), "load_avg_before": round(load_before, 2),
              "load_avg_after": round(os.getloadavg()[0], 2), "paths": {}}
    stats = arms["bfloat16"].backend.engine_stats
    for name, run in runs.items():
        texts = run["result"][0] if name.startswith("engine") else run["result"]
        entry = {"wall_s": round(run["wall"], 2), "cpu_s": round(run["cpu"], 2),
                 "bf16_new_tokens_per_s": round(work / run["wall"], 1),
                 "vs_engine_bf16_wall": ratio(run["wall"], ours["wall"]),
                 "vs_engine_bf16_cpu": ratio(run["cpu"], ours["cpu"]),
                 "identical_to_engine_fp32": round(
                     sum(a.strip() == b.strip() for a, b in zip(texts, reference)) / len(reference), 3)}
        report["paths"][name] = entry
        print(f"  {name}: {run['wall']:.1f}s ({run['cpu']:.1f}s CPU); engine bfloat16 is "
              f"{entry['vs_engine_bf16_wall']}x faster (CPU {entry['vs_engine_bf16_cpu']}x); identical to "
              f"engine float32: {entry['identical_to_engine_fp32']:.0%}", flush=True)
    report["engine_stats"] = stats
    report["bf16_new_tokens"] = work  # tokens/s of every path count the bfloat16 engine's new tokens
    return report


def threads_phase(label: str, arm, prompts, config, batch_size: int) -> dict:
    def run():
        arm.backend._prefixes.clear()
        return arm.backend.generate(prompts, config, batch_size=batch_size)

    out = {"load_avg_start": round(os.getloadavg()[0], 2)}
    for setting in ("1", "2", None):
        name = f"{setting} thread(s)" if setting else "automatic"
        _, wall, cpu = timed_cpu(lambda setting=setting: with_threads(setting, run))
        stats = arm.backend.engine_stats
        out[name] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "threads": stats.get("threads"),
                     "reason": stats.get("threads_reason"), "load_avg": round(os.getloadavg()[0], 2)}
        print(f"  {label}, {name}: {wall:.1f}s wall, {cpu:.1f}s CPU, ran {stats.get('threads')} thread(s)"
              f" ({stats.get('threads_reason')}), load {os.getloadavg()[0]:.1f}", flush=True)
    out["two_vs_one_wall"] = ratio(out["2 thread(s)"]["wall_s"], out["1 thread(s)"]["wall_s"])
    return out


def threads_part(args, folder, pool) -> dict:
    from evalkit.models.loader import load_model
    from evalkit.models.spec import GenerationConfig, ModelSpec

    arm = load_model(ModelSpec(base=folder, dtype="bfloat16"), pool=pool)
    prompts = triage_prompts(arm.backend, args.thread_n)
    config = GenerationConfig(max_new_tokens=args.thread_max_new_tokens)
    arm.backend.generate(prompts, config, batch_size=args.batch_size)  # warm-up: oneDNN builds its kernels
    report = {"as is": threads_phase("as is", arm, prompts, config, args.batch_size)}
    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=burn, args=(stop, os.getpid()), daemon=True)
               for _ in range(args.burners)]
    for process in burners:
        process.start()
    try:
        time.sleep(args.warmup)
        label = f"{args.burners} burners"
        report[label] = threads_phase(label, arm, prompts, config, args.batch_size)
    finally:
        stop.set()
        for process in burners:
            process.join(timeout=10)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--n", type=int, default=64, help="support-triage prompts (precision part)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=2, help="interleaved runs per path; the fastest counts")
    parser.add_argument("--thread-n", type=int, default=32, help="prompts of the threads part")
    parser.add_argument("--thread-max-new-tokens", type=int, default=32)
    parser.add_argument("--burners", type=int, default=os.cpu_count() or 1, help="CPU-burning processes")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds the burners run before timing")
    parser.add_argument("--skip-lmeval", action="store_true")
    parser.add_argument("--skip-threads", action="store_true")
    parser.add_argument("--skip-precision", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="ignored: each part sets its own threads")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    from evalkit.models.hf_loading import BasePool

    folder, pool = model_dir(), BasePool()
    report = {"machine": machine(), "batch_size": args.batch_size, "max_new_tokens": args.max_new_tokens,
              "repeat": args.repeat}
    if not args.skip_precision:
        print(f"precision: {args.n} support-triage prompts, batch {args.batch_size}, max_new_tokens "
              f"{args.max_new_tokens}, greedy, 1 thread; {machine()}", flush=True)
        report["precision"] = precision_part(args, folder, pool)
    if not args.skip_threads:
        print(f"threads: {args.thread_n} prompts, max_new_tokens {args.thread_max_new_tokens}, bfloat16",
              flush=True)
        report["threads"] = threads_part(args, folder, pool)
    if "precision" in report:
        paths = report["precision"]["paths"]
        lm = paths.get("lm-eval HFLM float32")
        report["bf16_vs_fp32_engine"] = paths["engine float32"]["vs_engine_bf16_wall"]
        report["met"] = bool(lm and lm["vs_engine_bf16_wall"] >= 3.0)
    report["load_avg_after"] = machine()["load_avg_1m"]
    emit(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
