#!/usr/bin/env python3
"""Shared-prefix log-likelihoods vs lm-eval's plain HFLM on a system-prompt arm.

Runs the gk-mc suite (an lm-eval multiple-choice task) on the prompt-only arm
of the demo (``examples/prompt_only.yaml``: the default model plus a ~300-token
system prompt) twice on one loaded model: with ``lm_eval.share_prefix: false``
(lm-eval's ``HFLM``, the baseline: every row recomputes the system prompt) and
with the default ``share_prefix: true``. Prints wall and CPU seconds, the
speed-up, both accuracies and the largest log-likelihood difference.

    .venv/bin/python bench/lmeval_shared_prefix.py [--limit 100] [--spec examples/prompt_only.yaml]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def variant(suite, share_prefix: bool, limit: int | None):
    """The suite with ``share_prefix`` and ``limit`` set in its lm_eval section."""
    section = suite.spec.lm_eval.model_copy(update={"share_prefix": share_prefix, "limit": limit})
    return dataclasses.replace(suite, spec=suite.spec.model_copy(update={"lm_eval": section}))


def main() -> None:
    """Measure both paths and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=100, help="documents of gk-mc (100 = all)")
    parser.add_argument("--spec", default=str(REPO / "examples" / "prompt_only.yaml"))
    opts = parser.parse_args()

    from evalkit.lmeval.runner import run_lm_eval_suite
    from evalkit.models.hf_loading import BasePool
    from evalkit.models.loader import load_model
    from evalkit.models.spec import load_model_spec
    from evalkit.runner.store import read_jsonl_tolerant
    from evalkit.suite.loader import load_suite

    arm = load_model(load_model_spec(opts.spec), pool=BasePool())
    suite = load_suite("gk-mc")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, share in (("plain HFLM", False), ("shared prefix", True)):
            wall, cpu = time.perf_counter(), time.process_time()
            run = run_lm_eval_suite(arm, variant(suite, share, opts.limit), Path(tmp) / label, resume=False)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            lls = [ll for g in read_jsonl_tolerant(Path(tmp) / label / "generations.jsonl")
                   for ll in g["loglikelihoods"]]
            results[label] = {"wall": wall, "cpu": cpu, "acc": run.primary, "lls": lls}
            print(f"{label:14} {wall:7.1f} s wall {cpu:7.1f} s CPU  acc {run.primary:.3f}", flush=True)
    base, fast = results["plain HFLM"], results["shared prefix"]
    worst = max(abs(a - b) for a, b in zip(base["lls"], fast["lls"]))
    print(f"speed-up (plain / shared): {base['wall'] / fast['wall']:.2f}x wall, "
          f"{base['cpu'] / fast['cpu']:.2f}x CPU; same accuracy: {base['acc'] == fast['acc']}; "
          f"largest log-likelihood difference {worst:.2e} over {len(base['lls'])} choices")


if __name__ == "__main__":
    main()
