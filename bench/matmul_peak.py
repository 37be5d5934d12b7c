#!/usr/bin/env python3
"""How close evalkit's generation gets to the machine's fp32 matmul peak, counting only useful work.

1. The peak: the best GFLOP/s of large fp32 ``torch.mm`` calls (with the same
   torch threads the generation uses), measured in this run.
2. Useful work of a generation run: every unique prompt token (the shared
   prefix counted once) plus every new token up to the stop, each worth
   ``2 x parameters`` FLOPs. Padding, finished rows and re-prefilled prefixes
   are not useful work, whoever computes them.

It prints useful GFLOP/s and their fraction of the peak for evalkit's engine
and, with ``--with-hf``, for plain HF ``generate`` on the same prompts.

    .venv/bin/python bench/matmul_peak.py [--n 64] [--batch-size 32] [--max-new-tokens 48] [--with-hf]
"""

from __future__ import annotations

import argparse

from benchlib import best_of, emit, machine, model_dir, set_threads, timed_cpu, triage_prompts


def matmul_peak(size: int = 2048, repeat: int = 8) -> float:
    """Best fp32 GFLOP/s of ``size`` x ``size`` matrix products."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    _, seconds = best_of(lambda: torch.mm(a, b), repeat)
    return 2 * size**3 / seconds / 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--with-hf", action="store_true", help="also measure plain HF generate")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    set_threads(args.threads)

    from evalkit.models.hf_loading import BasePool
    from evalkit.models.loader import load_model
    from evalkit.models.spec import GenerationConfig, ModelSpec

    peak = matmul_peak()
    arm = load_model(ModelSpec(base=model_dir()), pool=BasePool())
    backend = arm.backend
    loaded = backend.loaded()
    params = sum(p.numel() for p in loaded.model.parameters())
    prompts = triage_prompts(backend, args.n)
    config = GenerationConfig(max_new_tokens=args.max_new_tokens)
    print(f"fp32 matmul peak {peak:.1f} GFLOP/s; {params / 1e6:.1f}M parameters; {len(prompts)} prompts; "
          f"{machine()}", flush=True)
    gens, seconds, cpu = timed_cpu(lambda: backend.generate(prompts, config, batch_size=args.batch_size))
    stats = backend.engine_stats
    unique_prompt = stats["shared_prefix"] + stats["prefill_tokens"]
    new = sum(g.new_tokens for g in gens)
    useful = (unique_prompt + new) * 2 * params / 1e9
    report = {"machine": machine(), "peak_gflops": round(peak, 1), "params": params, "prompts": len(prompts),
              "unique_prompt_tokens": unique_prompt, "new_tokens": new, "useful_gflop": round(useful, 1),
              "paths": {}}
    paths = {"evalkit engine": (seconds, cpu)}
    if args.with_hf:
        paths["HF generate, length-sorted"] = timed_cpu(
            lambda: backend._generate_hf(loaded, prompts, config, args.batch_size, None))[1:]
    threads = machine()["torch_threads"]
    for name, (secs, cpu_s) in paths.items():
        rate = useful / secs
        entry = {"seconds": round(secs, 2), "cpu_seconds": round(cpu_s, 2), "useful_gflops": round(rate, 1),
                 "fraction_of_peak": round(rate / peak, 3)}
        line = (f"  {name}: {secs:.1f}s, useful {rate:.1f} GFLOP/s = {rate / peak:.0%} of the matmul peak "
                f"({unique_prompt} unique prompt + {new} new tokens)")
        if threads == 1:  # one thread: CPU time is the time it would take on an otherwise idle core
            entry["fraction_of_peak_cpu_time"] = round(useful / cpu_s / peak, 3)
            line += f"; per CPU second {entry['fraction_of_peak_cpu_time']:.0%}"
        report["paths"][name] = entry
        print(line, flush=True)
    emit(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
