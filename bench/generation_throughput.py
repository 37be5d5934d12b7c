#!/usr/bin/env python3
"""New tokens/s of evalkit's generation engine against plain HF ``generate`` and lm-eval's HF backend.

Same model (the default SmolLM2-135M-Instruct, float32, CPU), same prompts
(the first N support-triage samples in the suite's prompt template, through
the chat template), greedy, same ``max_new_tokens`` and batch size:

* ``evalkit engine``: ``HFBackend.generate`` (shared-prefix prefill, packed
  prompts, continuous batching, early exit);
* ``HF generate, length-sorted``: evalkit's previous path (``_generate_hf``);
* ``HF generate, plain loop``: ``model.generate`` on batches in input order;
* ``lm-eval HFLM``: lm-eval's ``generate_until`` with its own model load.

Throughput counts the same useful work for everyone: the engine's new tokens
up to EOS (all paths decode greedily, and the script reports how many outputs
agree exactly). Paths run interleaved ``--repeat`` times and the fastest run
counts; ratios are the baselines' seconds over the engine's, in wall time and
in this process's CPU time (steadier when other jobs share the machine).

    .venv/bin/python bench/generation_throughput.py [--n 128] [--batch-size 32] [--max-new-tokens 48]
"""

from __future__ import annotations

import argparse

from benchlib import emit, machine, model_dir, ratio, round_robin, set_threads, triage_prompts


def plain_generate(model, tok, prompts, max_new_tokens: int, batch_size: int) -> list[str]:
    """What a user would write: ``model.generate`` over batches in input order, greedy, left-padded."""
    import torch

    texts = []
    with torch.inference_mode():
        for start in range(0, len(prompts), batch_size):
            batch = [p for _, p in prompts[start : start + batch_size]]
            enc = tok(batch, return_tensors="pt", padding=True, add_special_tokens=False)
            out = model.generate(
                **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id,
                temperature=None, top_p=None, top_k=None,
            )
            texts.extend(tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True))
    return texts


def lmeval_runner(folder: str, prompts, max_new_tokens: int, batch_size: int):
    """A callable running lm-eval's HFLM ``generate_until`` on the prompts (model loaded once, here)."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=folder, dtype="float32", device="cpu", batch_size=batch_size)
    kwargs = {"until": [], "max_gen_toks": max_new_tokens, "do_sample": False}
    requests = [
        Instance(request_type="generate_until", doc={}, arguments=(p, dict(kwargs)), idx=i)
        for i, (_, p) in enumerate(prompts)
    ]
    return lambda: lm.generate_until(requests, disable_tqdm=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--n", type=int, default=128, help="support-triage prompts")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=2, help="interleaved runs per path; the fastest counts")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--skip", nargs="*", default=[], choices=["sorted", "plain", "lmeval"])
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    set_threads(args.threads)

    from evalkit.models.hf_loading import BasePool
    from evalkit.models.loader import load_model
    from evalkit.models.spec import GenerationConfig, ModelSpec

    folder = model_dir()
    arm = load_model(ModelSpec(base=folder, dtype="float32", batch_size=args.batch_size), pool=BasePool())
    backend = arm.backend
    loaded = backend.loaded()
    prompts = triage_prompts(backend, args.n)
    config = GenerationConfig(max_new_tokens=args.max_new_tokens)
    print(f"{len(prompts)} support-triage prompts, batch {args.batch_size}, max_new_tokens "
          f"{args.max_new_tokens}, greedy; {machine()}", flush=True)

    def engine():
        backend._prefixes.clear()  # every run pays for its shared prefix
        return backend.generate(prompts, config, batch_size=args.batch_size)

    paths = {"evalkit engine": engine}
    if "sorted" not in args.skip:
        paths["HF generate, length-sorted"] = lambda: [
            g.text for g in backend._generate_hf(loaded, prompts, config, args.batch_size, None)]
    if "plain" not in args.skip:
        paths["HF generate, plain loop"] = lambda: plain_generate(
            loaded.model, loaded.tokenizer, prompts, args.max_new_tokens, args.batch_size)
    if "lmeval" not in args.skip:
        paths["lm-eval HFLM generate_until"] = lmeval_runner(
            folder, prompts, args.max_new_tokens, args.batch_size)
    runs = round_robin(paths, args.repeat)
    gens = runs["evalkit engine"]["result"]
    work = sum(g.new_tokens for g in gens)
    texts = [g.text for g in gens]
    ours = runs["evalkit engine"]
    report = {"machine": machine(), "prompts": len(prompts), "batch_size": args.batch_size,
              "max_new_tokens": args.max_new_tokens, "repeat": args.repeat, "new_tokens": work,
              "engine_stats": backend.engine_stats, "paths": {}}
    for name, run in runs.items():
        entry = {"wall_s": round(run["wall"], 2), "cpu_s": round(run["cpu"], 2),
                 "tokens_per_s": round(work / run["wall"], 1)}
        line = f"  {name}: {run['wall']:.1f}s ({run['cpu']:.1f}s CPU), {work / run['wall']:.1f} new tok/s"
        if name != "evalkit engine":
            outputs = run["result"]
            agree = sum(a.strip() == b.strip() for a, b in zip(outputs, texts)) / len(texts)
            entry.update(engine_speedup=ratio(run["wall"], ours["wall"]),
                         engine_speedup_cpu=ratio(run["cpu"], ours["cpu"]), outputs_identical=agree)
            line += (f" -> engine {entry['engine_speedup']}x faster (CPU time: "
                     f"{entry['engine_speedup_cpu']}x); identical outputs {agree:.0%}")
        report["paths"][name] = entry
        print(line, flush=True)
    report["load_avg_after"] = machine()["load_avg_1m"]
    emit(report, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
