#!/usr/bin/env python3
"""Peak memory and time of 3 arms on one base load vs three separate loads, against one arm alone.

Each variant runs in its own subprocess (so its peak RSS is its own) and
generates on the same support-triage prompts with the same batch size:

* ``one arm``: the base model alone (the reference);
* ``3 arms, one load``: base, prompt-only and a LoRA arm on one shared
  ``BasePool`` (what ``evalkit compare`` does);
* ``3 arms, 3 loads``: the same arms, each loading its own copy of the base.

Target: 3 arms on one load within 1.2x the peak RSS of one arm.

    .venv/bin/python bench/arms_memory.py [--n 16] [--max-new-tokens 16] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import emit, machine, model_dir, ratio, set_threads, timed

TARGET = 1.2
VARIANTS = ("one arm", "3 arms, one load", "3 arms, 3 loads")


def child(variant: str, adapter: str, n: int, max_new_tokens: int, batch_size: int) -> dict:
    """Run one variant in this process and return its time and peak RSS."""
    import resource

    from benchlib import triage_prompts

    from evalkit.models.hf_loading import BasePool
    from evalkit.models.loader import load_model
    from evalkit.models.spec import GenerationConfig, ModelSpec

    folder = model_dir()
    specs = [ModelSpec(name="base", base=folder)]
    if variant != "one arm":
        specs += [ModelSpec(name="prompted", base=folder, system_prompt="Answer with JSON only."),
                  ModelSpec(name="tuned", base=folder, adapter=adapter)]
    shared = BasePool()
    config = GenerationConfig(max_new_tokens=max_new_tokens)

    def run():
        arms = [load_model(s, pool=shared if variant != "3 arms, 3 loads" else BasePool()) for s in specs]
        for arm in arms:  # every arm stays alive, as in a compare
            arm.backend.generate(triage_prompts(arm.backend, n), config, batch_size=batch_size)
        return arms

    arms, seconds = timed(run)
    bases = len({id(arm.backend.loaded()) for arm in arms})
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"variant": variant, "arms": len(arms), "base_loads": bases, "seconds": round(seconds, 2),
            "peak_rss_mb": round(peak_mb, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--n", type=int, default=16, help="support-triage prompts per arm")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--adapter", default=None, help="a trained adapter for the LoRA arm")
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    if args.child:
        print(json.dumps(child(args.child, args.adapter, args.n, args.max_new_tokens, args.batch_size)))
        return 0

    with tempfile.TemporaryDirectory(prefix="evalkit-bench-") as tmp:
        adapter = args.adapter
        if adapter is None:
            from compare_cache import random_adapter

            adapter = str(random_adapter(model_dir(), Path(tmp) / "adapter"))
        print(f"{args.n} prompts x {args.max_new_tokens} new tokens per arm, batch {args.batch_size}; "
              f"{machine()}", flush=True)
        results = {}
        for variant in VARIANTS:
            command = [sys.executable, __file__, "--child", variant, "--adapter", adapter, "--n", str(args.n),
                       "--max-new-tokens", str(args.max_new_tokens), "--batch-size", str(args.batch_size)]
            if args.threads:
                command += ["--threads", str(args.threads)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            results[variant] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"  {variant}: {results[variant]}", flush=True)
    one = results["one arm"]
    report = {"machine": machine(), "variants": results, "target": TARGET}
    for variant in VARIANTS[1:]:
        rss = ratio(results[variant]["peak_rss_mb"], one["peak_rss_mb"])
        report[variant] = {"rss_vs_one_arm": rss, "time_vs_one_arm": ratio(results[variant]["seconds"],
                                                                            one["seconds"])}
        print(f"  {variant}: peak RSS {rss}x one arm, time {report[variant]['time_vs_one_arm']}x", flush=True)
    met = report["3 arms, one load"]["rss_vs_one_arm"] <= TARGET
    report["met"] = met
    print(f"  target (3 arms on one load <= {TARGET}x one arm's peak RSS): {'met' if met else 'NOT met'}")
    emit(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
