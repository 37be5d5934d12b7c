#!/usr/bin/env python3
"""Throughput of evalkit's model paths vs lm-eval's own HF backend on the same lm-eval requests.

One run measures, on the same model (float32, CPU), task requests and batch size:

* ``lm-eval HFLM``: lm-eval's HF backend loading the model from its folder, as
  ``lm_eval --model hf --model_args pretrained=DIR`` does (the reference);
* ``evalkit lm-eval``: what evalkit's lm-eval suites run, ``HFLM`` wrapped
  around evalkit's shared loaded base (``evalkit.lmeval.adapter.arm_lm``);
* ``evalkit native``: evalkit's own HF backend (``HFBackend.loglikelihood``
  and ``HFBackend.generate``) on the same contexts.

Log-likelihood requests come from a multiple-choice task (default ``gk_mc``),
generation requests from a ``generate_until`` task (default ``ifeval_lm``,
greedy, the task's ``max_gen_toks`` unless ``--max-gen-toks``). It prints
requests/s (and generated tokens/s, counted by re-tokenizing each output the
same way for every path) and each path's ratio to lm-eval's, plus how far the
native path's numbers are from lm-eval's.

    .venv/bin/python bench/lmeval_throughput.py [--ll-limit 25] [--gen-limit 8] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def task_requests(task: str, include: Path, limit: int):
    """lm-eval's request instances of a local task (first ``limit`` documents, no chat template)."""
    from lm_eval.tasks import TaskManager

    loaded = TaskManager(include_path=str(include), include_defaults=False).load([task])["tasks"][task]
    loaded.build_all_requests(limit=limit, rank=0, world_size=1)
    return loaded.instances


def timed(fn):
    """(result, seconds) of calling ``fn``."""
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def measure(paths: dict, ll_requests, gen_requests, tokenizer, max_gen_toks: int | None) -> dict:
    """Run every path on both request kinds; returns per path: seconds, rates and outputs."""
    if max_gen_toks is not None:  # the same change for every path
        for request in gen_requests:
            request.arguments = (request.arguments[0], {**request.arguments[1], "max_gen_toks": max_gen_toks})
    warm_gen = [replace(r, arguments=(r.arguments[0], {**r.arguments[1], "max_gen_toks": 4}))
                for r in gen_requests[:2]]
    report = {}
    for name, path in paths.items():
        path["loglikelihood"](ll_requests[:16])  # warm up (first-call allocations, kernel selection)
        path["generate"](warm_gen)
        lls, ll_s = timed(lambda path=path: path["loglikelihood"](ll_requests))
        texts, gen_s = timed(lambda path=path: path["generate"](gen_requests))
        tokens = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
        report[name] = {
            "loglikelihood": {"requests": len(ll_requests), "seconds": round(ll_s, 3),
                              "requests_per_s": len(ll_requests) / ll_s},
            "generate_until": {"requests": len(gen_requests), "seconds": round(gen_s, 3),
                               "requests_per_s": len(gen_requests) / gen_s, "tokens": tokens,
                               "tokens_per_s": tokens / gen_s},
            "_lls": [float(x[0]) for x in lls],
            "_texts": texts,
        }
        print(f"  {name}: loglikelihood {ll_s:.1f}s, generate_until {gen_s:.1f}s", flush=True)
    return report


def build_paths(model_dir: str, batch_size: int) -> tuple[dict, object]:
    """The three measured paths, as callables over lm-eval request instances; also a tokenizer."""
    from lm_eval.models.huggingface import HFLM

    from evalkit.lmeval.adapter import arm_lm
    from evalkit.models.hf_loading import BasePool
    from evalkit.models.loader import load_model
    from evalkit.models.spec import GenerationConfig, ModelSpec

    reference = HFLM(pretrained=model_dir, dtype="float32", device="cpu", batch_size=batch_size)
    arm = load_model(ModelSpec(base=model_dir, chat_template="none", dtype="float32"), pool=BasePool())
    arm.backend.loaded()

    def via_arm(method):
        def run(requests):
            with arm_lm(arm, batch_size) as lm:
                return getattr(lm, method)(requests, disable_tqdm=True)
        return run

    def native_ll(requests):
        return arm.backend.loglikelihood([r.arguments for r in requests], batch_size=batch_size)

    def native_generate(requests):
        kwargs = requests[0].arguments[1]
        config = GenerationConfig(max_new_tokens=kwargs.get("max_gen_toks", 256),
                                  stop=kwargs.get("until") or [])
        prompts = [(str(i), r.arguments[0]) for i, r in enumerate(requests)]
        return [g.text for g in arm.backend.generate(prompts, config, batch_size=batch_size)]

    paths = {
        "lm-eval HFLM": {"loglikelihood": lambda r: reference.loglikelihood(r, disable_tqdm=True),
                         "generate": lambda r: reference.generate_until(r, disable_tqdm=True)},
        "evalkit lm-eval": {"loglikelihood": via_arm("loglikelihood"), "generate": via_arm("generate_until")},
        "evalkit native": {"loglikelihood": native_ll, "generate": native_generate},
    }
    return paths, reference.tokenizer


def summarise(report: dict, reference: str = "lm-eval HFLM") -> dict:
    """Ratios to the reference path, and agreement of each path's outputs with it."""
    ref = report[reference]
    for entry in report.values():
        ll, gen = entry["loglikelihood"], entry["generate_until"]
        ll["ratio_vs_lm_eval"] = ll["requests_per_s"] / ref["loglikelihood"]["requests_per_s"]
        gen["ratio_vs_lm_eval"] = gen["tokens_per_s"] / ref["generate_until"]["tokens_per_s"]
        ll["max_abs_diff_vs_lm_eval"] = max(abs(a - b) for a, b in zip(entry["_lls"], ref["_lls"]))
        gen["same_text_as_lm_eval"] = sum(a == b for a, b in zip(entry["_texts"], ref["_texts"]))
    return {name: {k: v for k, v in entry.items() if not k.startswith("_")} for name, entry in report.items()}


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, measure, print a table (and optionally write JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="evalkit:smollm2-135m-instruct", help="evalkit:NAME or a folder")
    parser.add_argument("--ll-task", default="gk_mc")
    parser.add_argument("--ll-include", type=Path, default=REPO / "suites" / "gk-mc")
    parser.add_argument("--ll-limit", type=int, default=25, help="documents (4 requests each for gk_mc)")
    parser.add_argument("--gen-task", default="ifeval_lm")
    parser.add_argument("--gen-include", type=Path, default=REPO / "suites" / "ifeval-lm")
    parser.add_argument("--gen-limit", type=int, default=8)
    parser.add_argument("--max-gen-toks", type=int, default=None, help="override the task's max_gen_toks")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from evalkit.models.registry import resolve_base

    model_dir = resolve_base(args.model)
    ll_requests = task_requests(args.ll_task, args.ll_include, args.ll_limit)
    gen_requests = task_requests(args.gen_task, args.gen_include, args.gen_limit)
    import torch

    print(f"model {model_dir}, batch size {args.batch_size}, {torch.get_num_threads()} torch threads: "
          f"{len(ll_requests)} loglikelihood requests "
          f"({args.ll_task}), {len(gen_requests)} generate_until requests ({args.gen_task})", flush=True)
    paths, tokenizer = build_paths(model_dir, args.batch_size)
    report = summarise(measure(paths, ll_requests, gen_requests, tokenizer, args.max_gen_toks))
    print(f"\n{'path':<18}{'LL req/s':>10}{'ratio':>8}{'max|dLL|':>11}{'gen req/s':>11}{'tok/s':>9}"
          f"{'ratio':>8}{'same text':>11}")
    for name, entry in report.items():
        ll, gen = entry["loglikelihood"], entry["generate_until"]
        print(f"{name:<18}{ll['requests_per_s']:>10.2f}{ll['ratio_vs_lm_eval']:>8.2f}"
              f"{ll['max_abs_diff_vs_lm_eval']:>11.2e}{gen['requests_per_s']:>11.3f}{gen['tokens_per_s']:>9.1f}"
              f"{gen['ratio_vs_lm_eval']:>8.2f}{gen['same_text_as_lm_eval']:>6}/{gen['requests']}")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "model_dir": model_dir, "paths": report}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
