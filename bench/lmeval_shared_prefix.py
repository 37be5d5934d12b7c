#!/usr/bin/env python3
"""Shared-prefix and context-grouped log-likelihoods vs lm-eval's plain HFLM.

Runs the gk-mc suite (an lm-eval multiple-choice task, four choices a question) on one
loaded arm (by default the demo's prompt-only arm, ``examples/prompt_only.yaml``: the
default model plus a ~300-token system prompt; ``--spec examples/base.yaml`` for none)
three times: with ``lm_eval.share_prefix: false`` (lm-eval's ``HFLM``, the baseline: every
row recomputes the whole prompt), with the shared prefix computed once but every choice
still its own full row (``prefix only``, the previous default), and with the default
``share_prefix: true`` (prefix once, then each context once for all its choices). Prints
wall and CPU seconds, the speed-ups against the baseline, the accuracies and the largest
log-likelihood difference.

    .venv/bin/python bench/lmeval_shared_prefix.py [--limit 100] [--spec examples/base.yaml] [--dtype auto]
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
    parser.add_argument("--limit", type=int, default=100, help="documents of gk-mc (it has 500; 0: all)")
    parser.add_argument("--spec", default=str(REPO / "examples" / "prompt_only.yaml"))
    parser.add_argument("--dtype", default=None, help="override the spec's dtype (auto, float32, bfloat16)")
    opts = parser.parse_args()
    import os

    import evalkit.lmeval.shared_prefix as shared_prefix
    from evalkit.lmeval.runner import run_lm_eval_suite
    from evalkit.models.hf_loading import BasePool
    from evalkit.models.loader import load_model
    from evalkit.models.spec import load_model_spec
    from evalkit.runner.store import read_jsonl_tolerant
    from evalkit.suite.loader import load_suite

    spec = load_model_spec(opts.spec)
    if opts.dtype:
        spec = spec.model_copy(update={"dtype": opts.dtype})
    arm = load_model(spec, pool=BasePool())
    suite = load_suite("gk-mc")
    results = {}
    print(f"arm {arm.name} ({opts.spec}), dtype {spec.dtype}, load average {os.getloadavg()[0]:.2f}")
    grouping = shared_prefix.can_group
    with tempfile.TemporaryDirectory() as tmp:
        for label, share, grouped in (("plain HFLM", False, False), ("prefix only", True, False),
                                      ("prefix + grouped", True, True)):
            shared_prefix.can_group = grouping if grouped else (lambda *a: False)
            wall, cpu = time.perf_counter(), time.process_time()
            run = run_lm_eval_suite(arm, variant(suite, share, opts.limit), Path(tmp) / label, resume=False)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            lls = [ll for g in read_jsonl_tolerant(Path(tmp) / label / "generations.jsonl")
                   for ll in g["loglikelihoods"]]
            results[label] = {"wall": wall, "cpu": cpu, "acc": run.primary, "lls": lls}
            print(f"{label:16} {wall:7.1f} s wall {cpu:7.1f} s CPU  acc {run.primary:.3f}", flush=True)
    shared_prefix.can_group = grouping
    base = results["plain HFLM"]
    for label in ("prefix only", "prefix + grouped"):
        fast = results[label]
        worst = max(abs(a - b) for a, b in zip(base["lls"], fast["lls"]))
        print(f"speed-up (plain / {label}): {base['wall'] / fast['wall']:.2f}x wall, "
              f"{base['cpu'] / fast['cpu']:.2f}x CPU; accuracy {fast['acc']:.3f} vs {base['acc']:.3f}; "
              f"largest log-likelihood difference {worst:.2e} over {len(base['lls'])} choices")


if __name__ == "__main__":
    main()
