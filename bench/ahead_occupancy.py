#!/usr/bin/env python3
"""How full the engine's batch stays when a sequential compare generates ahead in chunks.

``--sequential`` generates each suite 128 samples at a time per arm (``--generate-ahead``), one
engine call of one batch of 128 rows: every row starts together and nothing refills the rows that
finish, so a decode step runs for the longest answer of the chunk. The bench generates the same
ifeval-lite prompts (the demo's ``max_new_tokens``, greedy, bfloat16 where supported) in chunks
of 128, 256 and all at once, and prints the wall time, decode steps and the batch's mean
occupancy (decode rows over steps x the batch's KV slots) of each, with the ratio to the 128
chunks measured in the same run, for the base model and, with ``--adapter``, for a tuned arm
(whose answers are shorter and more uneven). The outputs must be the same in every chunking
(the engine is batch invariant); the bench says so.

    .venv/bin/python bench/ahead_occupancy.py [--adapter runs/demo-adapter] [--n 384]
"""

from __future__ import annotations

import argparse
import time

from benchlib import emit, machine, model_dir, ratio, set_threads


def chunked(backend, prompts, config, chunk: int) -> dict:
    """Generate ``prompts`` in engine calls of ``chunk`` prompts: wall time, steps, occupancy, texts."""
    texts, steps, rows, slots = [], 0, 0, 0
    started = time.perf_counter()
    for start in range(0, len(prompts), chunk):
        out = backend.generate(prompts[start:start + chunk], config)
        texts += [g.text for g in out]
        stats = backend.engine_stats
        steps += stats["decode_steps"]
        rows += stats["decode_rows"]
        slots += stats["decode_steps"] * stats["batch"]
    wall = time.perf_counter() - started
    return {"wall_s": round(wall, 1), "decode_steps": steps, "decode_rows": rows,
            "occupancy": round(rows / max(1, slots), 2), "texts": texts}


def measure(adapter: str | None, n: int, max_new_tokens: int) -> dict:
    """One arm's chunkings of the first ``n`` ifeval-lite prompts."""
    from evalkit.models.hf_loading import BasePool
    from evalkit.models.loader import load_model
    from evalkit.models.spec import GenerationConfig, ModelSpec
    from evalkit.suite.loader import load_suite

    backend = load_model(ModelSpec(base=model_dir(), dtype="auto", adapter=adapter), pool=BasePool()).backend
    samples = load_suite("ifeval-lite", build_scorers=False).samples[:n]
    prompts = [(s.id, backend.render(s.input)) for s in samples]
    config = GenerationConfig(max_new_tokens=max_new_tokens)
    backend.generate(prompts[:4], config)  # warm-up: kernels built, shared prefix cached
    sizes = sorted({c for c in (128, 256) if c < n} | {n})
    runs = {str(chunk): chunked(backend, prompts, config, chunk) for chunk in sizes}
    first = runs[str(sizes[0])]
    same = all(r["texts"] == first["texts"] for r in runs.values())
    for r in runs.values():
        r.pop("texts")
        r["speedup_vs_first"] = ratio(first["wall_s"], r["wall_s"])
    return {"adapter": adapter, "prompts": n, "dtype": backend.engine_stats.get("dtype"),
            "chunks": runs, "same_outputs": same}


def main(argv: list[str] | None = None) -> int:
    """Print the chunkings of the base arm (and the tuned arm with ``--adapter``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", help="a tuned arm's adapter folder (e.g. runs/demo-adapter)")
    parser.add_argument("--n", type=int, default=384)
    parser.add_argument("--max-new-tokens", type=int, default=160)  # ifeval-lite's own limit
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    report = {"machine": machine(), "arms": {}}
    for name, adapter in (("base", None), ("tuned", args.adapter)):
        if name == "tuned" and not adapter:
            continue
        arm = report["arms"][name] = measure(adapter, args.n, args.max_new_tokens)
        print(f"{name} ({arm['dtype']}, {arm['prompts']} ifeval-lite prompts), outputs identical in every "
              f"chunking: {arm['same_outputs']}")
        for chunk, r in arm["chunks"].items():
            print(f"  chunks of {chunk:>4}: {r['wall_s']:7.1f} s  steps {r['decode_steps']:5}  occupancy "
                  f"{r['occupancy']:.2f}  {r['speedup_vs_first']}x the smallest chunks")
    emit(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
