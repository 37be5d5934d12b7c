#!/usr/bin/env python3
"""The compiled decode attention (bfloat16 KV store) against the engine's float32 torch attention.

Part 1, one layer of one decode step (``--rows`` rows, 3 key/value heads of 3 query heads each, head
size 64: the default model's geometry), each row attending to a random length up to ``span``: the
kernel (``evalkit.models.decode_kernel``) vs the batched float32 matmuls it replaces, at 1 and 2
threads, interleaved, best of ``--repeat``.

Part 2, end to end: the default model in bfloat16 generating for the first ``--n`` ifeval-lite
prompts (up to ``--max-new-tokens``, greedy, automatic batch) with the kernel and with
``EVALKIT_DECODE_KERNEL=0`` (float32 store, torch attention), interleaved; new tokens/s and how many
outputs are identical (the two paths sum in different orders, so near-ties can flip).

    .venv/bin/python bench/decode_attention.py [--n 128] [--max-new-tokens 128] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time

from benchlib import emit, machine, model_dir, ratio, set_threads


def layer_paths(rows: int, span: int):
    """(kernel, torch) callables attending one layer of a decode step over the same keys and values."""
    import torch

    from evalkit.models import decode_kernel
    from evalkit.models.kv_attention import DecodePlan, KVStore

    kv_heads, groups, dim = 3, 3, 64
    generator = torch.Generator().manual_seed(0)
    positions = torch.randint(span // 2, span, (rows,), generator=generator)
    keys = torch.randn(rows, kv_heads, span, dim, generator=generator).to(torch.bfloat16)
    values = torch.randn(rows, kv_heads, span, dim, generator=generator).to(torch.bfloat16)
    query = torch.randn(rows, kv_heads * groups, 1, dim, generator=generator).to(torch.bfloat16)
    stores = {}
    for dtype in (torch.bfloat16, torch.float32):
        store = KVStore(1, rows, kv_heads, span, dim, dtype)
        store.keys[0][..., :span].copy_(keys.transpose(2, 3) if store.transposed else keys)
        store.values[0][:, :, :span].copy_(values)
        stores[dtype] = store
    fresh = keys[:, :, :1], values[:, :, :1]
    available = decode_kernel.available()

    def run(dtype):
        plan = DecodePlan(stores[dtype], positions.clone(), groups)
        return plan.attend(0, query, *fresh, dim ** -0.5)

    return (lambda: run(torch.bfloat16)) if available else None, lambda: run(torch.float32)


def best(fn, repeat: int, inner: int = 10) -> float:
    """Fastest mean seconds per call over ``repeat`` rounds of ``inner`` calls."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - start) / inner)
    return min(times)


def end_to_end(n: int, max_new_tokens: int, repeat: int) -> dict:
    """New tokens/s on ifeval-lite with the kernel and with the float32 torch path."""
    from evalkit.models import decode_kernel
    from evalkit.models.hf_loading import BasePool
    from evalkit.models.loader import load_model
    from evalkit.models.spec import GenerationConfig, ModelSpec
    from evalkit.suite.loader import load_suite

    arm = load_model(ModelSpec(base=model_dir(), dtype="bfloat16"), pool=BasePool())
    backend = arm.backend
    samples = load_suite("ifeval-lite", build_scorers=False).samples[:n]
    prompts = [(s.id, backend.render(s.input)) for s in samples]
    config = GenerationConfig(max_new_tokens=max_new_tokens)
    runs: dict[str, dict] = {}
    for _ in range(repeat):
        for name, switch in (("compiled kernel", "1"), ("float32 torch", "0")):
            os.environ[decode_kernel.ENV] = switch
            decode_kernel._library.cache_clear()
            backend._prefixes.clear()  # every run pays for its shared prefix, in its own store dtype
            start = time.perf_counter()
            out = backend.generate(prompts, config)
            wall = time.perf_counter() - start
            if name not in runs or wall < runs[name]["wall_s"]:
                runs[name] = {"wall_s": round(wall, 2), "texts": [g.text for g in out],
                              "new_tokens": sum(g.new_tokens for g in out),
                              "kv_dtype": backend.engine_stats["kv_dtype"]}
    os.environ.pop(decode_kernel.ENV, None)
    decode_kernel._library.cache_clear()
    fast, slow = runs["compiled kernel"], runs["float32 torch"]
    same = sum(a == b for a, b in zip(fast.pop("texts"), slow.pop("texts")))
    for run in runs.values():
        run["tokens_per_s"] = round(run["new_tokens"] / run["wall_s"], 1)
    return {"prompts": len(prompts), "max_new_tokens": max_new_tokens, "paths": runs,
            "speedup": ratio(slow["wall_s"], fast["wall_s"]), "identical_outputs": f"{same}/{len(prompts)}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--rows", type=int, default=96)
    parser.add_argument("--spans", type=int, nargs="*", default=[128, 320, 640])
    parser.add_argument("--n", type=int, default=128, help="ifeval-lite prompts for part 2 (0: skip it)")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for part 2")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    import torch

    report = {"machine": machine(), "layer": {}, "end_to_end": None}
    print(f"one decode layer, {args.rows} rows, 3x3 heads of 64; {machine()}", flush=True)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for span in args.spans:
            kernel, reference = layer_paths(args.rows, span)
            if kernel is None:
                print("  the kernel is not available here (no C++ compiler?)")
                break
            fast, slow = best(kernel, args.repeat), best(reference, args.repeat)
            key = f"{threads} thread(s), span {span}"
            report["layer"][key] = {"kernel_ms": round(fast * 1e3, 3), "torch_ms": round(slow * 1e3, 3),
                                    "speedup": ratio(slow, fast)}
            print(f"  {key}: kernel {fast * 1e3:.2f} ms, float32 torch {slow * 1e3:.2f} ms "
                  f"-> {ratio(slow, fast)}x", flush=True)
    if args.n:
        set_threads(args.threads)
        result = end_to_end(args.n, args.max_new_tokens, args.repeat)
        report["end_to_end"] = result
        for name, run in result["paths"].items():
            print(f"  {name}: {run['wall_s']} s, {run['tokens_per_s']} new tok/s (KV {run['kv_dtype']})")
        print(f"  end to end: {result['speedup']}x; identical outputs {result['identical_outputs']}")
    report["load_avg_after"] = machine()["load_avg_1m"]
    emit(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
