#!/usr/bin/env python3
"""Engine tokens/s in bfloat16 at several GEMM row blocks and batch sizes, on ifeval-lite's prompts.

Every bfloat16 ``nn.Linear`` of an arm runs on blocks of a fixed row count
(``evalkit/models/row_blocks.py``) so that results are batch-invariant on AMX CPUs. The block
size sets the GEMM kernel's speed, so this script times the engine (greedy, ifeval-lite's first
N prompts through the chat template, its 160 new tokens) at each ``BLOCKxBATCH`` setting, in one
process, and prints each setting's decode rows/s and its speed-up over the first setting (the
baseline, measured in the same run). Outputs of settings with one block size agree with each
other; a different block size may round differently (it is another kernel), so the script
reports how many outputs match the baseline's. A setting ending in ``:whole`` pads every
remainder to a whole block (no short blocks, ``row_blocks.short_blocks``): its outputs must
equal the same block size's with short blocks, bit for bit.

    .venv/bin/python bench/row_blocks.py [--n 128] [--settings 32x64 64x64 128x128] [--threads 1]
    .venv/bin/python bench/row_blocks.py --n 32 --settings 128x32:whole 128x32
"""

from __future__ import annotations

import argparse
import time

from benchlib import emit, machine, model_dir, ratio, set_threads


def main(argv: list[str] | None = None) -> int:
    """Time each setting; print one line per setting and the machine."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=128, help="ifeval-lite prompts")
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--settings", nargs="+", default=["32x64", "64x64", "128x128"],
                        help="BLOCKxBATCH[:whole]; the first is the baseline")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    set_threads(args.threads)

    import evalkit.models.row_blocks as row_blocks
    from evalkit.models.loader import load_model
    from evalkit.models.spec import GenerationConfig, ModelSpec
    from evalkit.suite.loader import load_suite

    arm = load_model(ModelSpec(base=model_dir(), dtype="bfloat16"))
    suite = load_suite("ifeval-lite", build_scorers=False)
    prompts = [(s.id, arm.backend.render(s.input)) for s in suite.samples[: args.n]]
    config = GenerationConfig(max_new_tokens=args.max_new_tokens)
    report = {"machine": machine(), "n": len(prompts), "settings": {}}
    print(report["machine"])
    baseline, first = None, None
    short = row_blocks.SHORT_BLOCKS
    for setting in args.settings:
        shape, _, whole = setting.partition(":")
        block, batch = (int(part) for part in shape.split("x"))
        row_blocks.ROW_BLOCK = block  # read at call time by every blocked linear
        row_blocks.SHORT_BLOCKS = () if whole else short
        row_blocks._probed.clear()
        arm.backend._prefixes.clear()  # every setting pays for its shared prefix
        started = time.perf_counter()
        gens = arm.backend.generate(prompts, config, batch_size=batch)
        seconds = time.perf_counter() - started
        rows = arm.backend.engine_stats["decode_rows"]
        baseline = baseline or seconds
        first = first or gens
        same = sum(a.text == b.text for a, b in zip(first, gens))
        speedup = ratio(baseline, seconds)
        report["settings"][setting] = {"seconds": round(seconds, 1), "speedup": speedup,
                                       "decode_rows_per_s": round(rows / seconds), "same_as_baseline": same}
        label = f"block {block:4d} batch {batch:4d}{' whole' if whole else ''}"
        print(f"{label}: {seconds:7.1f} s  {rows / seconds:6.0f} rows/s  "
              f"x{speedup} vs {args.settings[0]}  {same}/{len(gens)} outputs as the baseline", flush=True)
    emit(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
