#!/usr/bin/env python3
"""A 3-arm compare (base, prompt-only, tuned adapter) run cold, then again warm from the generation cache.

Both runs use the same fresh ``EVALKIT_HOME`` in a temporary folder, so the
cold run starts with an empty cache and loads the model; the warm run writes
to a new output folder (nothing to resume) and is served by the cache. The
tuned arm uses ``--adapter`` if given, else a small random LoRA made with peft.
Target: warm at least 20x faster than cold.

    .venv/bin/python bench/compare_cache.py [--suite general-knowledge] [--limit 64] [--adapter DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from benchlib import emit, machine, model_dir, ratio, set_threads, timed

TARGET = 20.0


def random_adapter(base_dir: str, folder: Path, seed: int = 0, scale: float = 0.3) -> Path:
    """A LoRA adapter (r=8 on q/v) with small random weights: changes outputs without wrecking them."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    peft_model = get_peft_model(
        model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.mul_(scale)
    peft_model.save_pretrained(folder)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--suite", default="general-knowledge")
    parser.add_argument("--limit", type=int, default=64, help="samples per arm")
    parser.add_argument("--adapter", default=None, help="a trained adapter for the tuned arm")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    folder = model_dir()  # resolved before EVALKIT_HOME moves to the temporary home

    with tempfile.TemporaryDirectory(prefix="evalkit-bench-") as tmp:
        os.environ["EVALKIT_HOME"] = str(Path(tmp) / "home")
        from evalkit.compare.orchestrate import CompareRequest, compare
        from evalkit.models.spec import ModelSpec

        adapter = args.adapter or str(random_adapter(folder, Path(tmp) / "adapter"))
        specs = [
            ModelSpec(name="base", base=folder),
            ModelSpec(name="prompted", base=folder, system_prompt="You are a careful assistant. "
                      "Answer with just the answer."),
            ModelSpec(name="tuned", base=folder, adapter=adapter),
        ]
        print(f"3 arms x {args.limit} {args.suite} samples; {machine()}", flush=True)

        def run(out: str):
            return compare(CompareRequest(specs=specs, suites=[args.suite], out=Path(tmp) / out,
                                          limit=args.limit))

        cold, cold_s = timed(lambda: run("cold"))
        print(f"  cold: {cold_s:.1f}s (arms {cold['metadata']['timings']['arms_s']})", flush=True)
        warm, warm_s = timed(lambda: run("warm"))
        print(f"  warm: {warm_s:.2f}s (arms {warm['metadata']['timings']['arms_s']})", flush=True)
        from evalkit.api import open_cache

        stats = open_cache().stats()
    speedup = ratio(cold_s, warm_s)
    same = cold["suites"][0]["scores"] == warm["suites"][0]["scores"]
    verdict = "met" if speedup >= TARGET else "NOT met"
    print(f"  warm is {speedup}x faster than cold (target >= {TARGET}x: {verdict}); "
          f"identical scores: {same}; cache {stats.entries} entries", flush=True)
    emit({"machine": machine(), "suite": args.suite, "limit": args.limit, "cold_s": round(cold_s, 2),
          "warm_s": round(warm_s, 3),
          "speedup": speedup, "target": TARGET, "met": speedup >= TARGET, "identical_scores": same,
          "cache_entries": stats.entries}, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
