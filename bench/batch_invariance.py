#!/usr/bin/env python3
"""Does an arm answer the same at every batch size and thread count? Greedy outputs on ifeval-lite, compared.

A sequential compare generates ahead in engine batches of 128 while a fixed-n or round-by-round
run generates 32 at a time, and the thread governor moves between one and two threads with the
load: the verdict may only stay the same if every greedy answer does. This script generates
ifeval-lite's first N prompts with one arm at each ``BATCHxTHREADS`` setting, in one process,
and prints how many outputs differ from the first setting's (the baseline), with the seconds of
each. ``--unblock-adapter`` runs the adapter's float32 LoRA matrices unblocked (as before they were
row-blocked, ``evalkit/models/row_blocks.py``) to show what blocking them changes.

    .venv/bin/python bench/batch_invariance.py [--adapter runs/demo-adapter] [--n 128]
    .venv/bin/python bench/batch_invariance.py --settings 32x1 128x1 128x2 --unblock-adapter
"""

from __future__ import annotations

import argparse
import time

from benchlib import REPO, emit, machine, model_dir


def main(argv: list[str] | None = None) -> int:
    """Generate at each setting; print one line per setting against the first."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", default="runs/demo-adapter", help="'' for the base model alone")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--n", type=int, default=128, help="ifeval-lite prompts")
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--settings", nargs="+", default=["32x1", "128x1", "128x2"],
                        help="BATCHxTHREADS or BATCH (at --threads); the first is the baseline")
    parser.add_argument("--threads", type=int, default=1, help="threads of a setting given as BATCH")
    parser.add_argument("--unblock-adapter", action="store_true",
                        help="leave the adapter's float32 linears unblocked")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    import torch

    from evalkit.models.loader import load_model
    from evalkit.models.spec import GenerationConfig, ModelSpec
    from evalkit.suite.loader import load_suite

    adapter = str(REPO / args.adapter) if args.adapter else None
    if adapter and not (REPO / args.adapter / "adapter_config.json").is_file():
        print(f"no adapter at {adapter}: run `make demo` first (or pass --adapter '')")
        return 2
    arm = load_model(ModelSpec(name="arm", base=model_dir(), dtype=args.dtype, adapter=adapter))
    suite = load_suite("ifeval-lite", build_scorers=False)
    prompts = [(s.id, arm.backend.render(s.input)) for s in suite.samples[: args.n]]
    config = GenerationConfig(max_new_tokens=args.max_new_tokens)
    model = arm.backend.loaded().model
    unblocked = 0
    if args.unblock_adapter:
        for module in model.modules():
            blocked = "forward" in vars(module)
            if type(module) is torch.nn.Linear and module.weight.dtype == torch.float32 and blocked:
                del module.forward  # back to nn.Linear.forward
                unblocked += 1
    report = {"machine": machine(), "n": len(prompts), "adapter": args.adapter, "unblocked": unblocked,
              "dtype": str(model.dtype), "settings": {}}
    print(report["machine"])
    note = f", {unblocked} float32 linears unblocked" if unblocked else ""
    print(f"{args.adapter or 'base'} in {model.dtype}{note}")
    first = None
    for setting in args.settings:
        batch, _, threads = setting.partition("x")
        batch, threads = int(batch), int(threads or args.threads)
        torch.set_num_threads(threads)
        started = time.perf_counter()
        outputs = [(g.text, g.new_tokens) for g in arm.backend.generate(prompts, config, batch_size=batch)]
        seconds = time.perf_counter() - started
        first = first or outputs
        differ = [i for i, (a, b) in enumerate(zip(first, outputs)) if a != b]
        report["settings"][setting] = {"seconds": round(seconds, 1), "differ": len(differ),
                                       "first_differing": differ[:10]}
        print(f"batch {batch:4d} threads {threads}: {seconds:7.1f} s  "
              f"{len(differ)}/{len(outputs)} outputs differ from {args.settings[0]}", flush=True)
    emit(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
