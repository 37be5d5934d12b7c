"""Training throughput and peak memory: evalkit's packed + bf16 trainer vs its previous path vs plain TRL.

Usage: python bench/train_throughput.py [--steps 6] [--rounds 1] [--threads 1] [--json OUT.json]

Three arms train the default model (nf4 base, double quantisation, LoRA r 16 on all
linear layers, batches of 8 support-triage chat rows) for the same number of steps:

* ``after``: ``evalkit train`` on the demo's own spec (examples/train/support-triage.yaml,
  validation included), as shipped: padding-free packed batches, the loss on answer
  positions only, ``precision: auto``;
* ``before``: the same spec with ``packing: false``, ``precision: fp32``,
  ``gradient_checkpointing: false`` and LoRA dropout 0.05, which is what the demo
  ran before (rows padded to the batch's longest, float32 compute, the trainer's
  full-logits loss);
* ``trl``: plain TRL ``SFTTrainer`` with its defaults (bf16 autocast, gradient
  checkpointing, padded batches, its completion-only loss) on the same rows, rendered
  as prompt/completion text, and the same quantized model and LoRA.

Each arm runs in its own process, so its peak RSS (``ru_maxrss``) is its own: model
load, training and (for the evalkit arms) the validation pass of the demo's spec.
Throughput is non-padding tokens per second over steps 2..N, wall-clock and per
CPU-second of the process (the latter barely moves with other jobs on a shared
machine); arms alternate within each round and the best round of each is reported,
with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import REPO, machine, ratio, step_timer

SPEC = REPO / "examples" / "train" / "support-triage.yaml"
DATA = REPO / "suites" / "support-triage" / "train_chat.jsonl"
ARMS = ("before", "after", "trl")


def evalkit_arm(arm: str, steps: int, work: Path) -> dict:
    """The demo's train spec through `evalkit.train.trainer.train` (``before``: the old settings)."""
    from evalkit.train.spec import load_train_spec
    from evalkit.train.trainer import quiet, train

    spec = load_train_spec(SPEC)
    training = {"max_steps": steps, "save_steps": steps, "logging_steps": 1}
    updates: dict = {"output_dir": str(work / arm)}
    if arm == "before":  # the previous defaults: padded, float32, no checkpointing on a CPU, LoRA dropout
        training.update(packing=False, precision="fp32", gradient_checkpointing=False)
        updates["lora"] = spec.lora.model_copy(update={"dropout": 0.05})
    spec = spec.model_copy(update={**updates, "training": spec.training.model_copy(update=training)})
    timer = step_timer()
    with quiet():
        result = train(spec, callbacks=[timer])
    settings = result.card["settings"]
    return {**timer.rates(), "precision": settings["precision"], "packing": settings["packing"]}


def trl_arm(steps: int, work: Path) -> dict:
    """Plain TRL: prompt/completion rows, a quantized model, a LoraConfig and SFTTrainer's defaults."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
    from trl import SFTConfig, SFTTrainer

    from evalkit.models.registry import resolve_base

    base = resolve_base("evalkit:smollm2-135m-instruct")
    tokenizer = AutoTokenizer.from_pretrained(base)
    records = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        messages = json.loads(line)["messages"]
        prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
        records.append({"prompt": prompt, "completion": messages[-1]["content"] + "<|im_end|>"})
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True)
    model = AutoModelForCausalLM.from_pretrained(base, quantization_config=quant, dtype=torch.float32)
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                      task_type="CAUSAL_LM")
    args = SFTConfig(output_dir=str(work / "trl"), max_steps=steps, per_device_train_batch_size=8,
                     use_cpu=True, save_strategy="no", logging_steps=1, report_to="none", disable_tqdm=True,
                     include_num_input_tokens_seen="non_padding")
    timer = step_timer()
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(records),
                         processing_class=tokenizer, peft_config=lora, callbacks=[timer])
    trainer.train()
    return {**timer.rates(), "precision": "bf16" if args.bf16 else "fp32",
            "gradient_checkpointing": args.gradient_checkpointing, "packing": False}


def child(arm: str, steps: int, threads: int | None) -> None:
    """Run one arm in this process and print its figures (and this process's peak RSS) as JSON."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    from evalkit.models.hf_loading import silence_bitsandbytes_notice

    silence_bitsandbytes_notice()
    with tempfile.TemporaryDirectory(prefix=f"train-throughput-{arm}-") as tmp:
        started = time.perf_counter()
        figures = trl_arm(steps, Path(tmp)) if arm == "trl" else evalkit_arm(arm, steps, Path(tmp))
    figures["wall_s"] = round(time.perf_counter() - started, 1)
    figures["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)
    print("RESULT " + json.dumps(figures), flush=True)


def run_arm(arm: str, steps: int, threads: int | None) -> dict:
    """One arm in a fresh process; its figures."""
    command = [sys.executable, __file__, "--arm", arm, "--steps", str(steps)]
    command += ["--threads", str(threads)] if threads else []
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"arm {arm} failed (exit {done.returncode})")
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    """Run the arms, alternating per round, and print tokens/s, peak RSS and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch threads per arm (default: torch's)")
    parser.add_argument("--arms", nargs="*", default=list(ARMS), choices=ARMS)
    parser.add_argument("--arm", choices=ARMS, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=None)
    opts = parser.parse_args()
    if opts.arm:
        child(opts.arm, opts.steps, opts.threads)
        return
    runs: dict[str, list[dict]] = {arm: [] for arm in opts.arms}
    loads = []
    for round_no in range(opts.rounds):
        order = opts.arms if round_no % 2 == 0 else list(reversed(opts.arms))
        for arm in order:
            loads.append(os.getloadavg()[0])
            runs[arm].append(run_arm(arm, opts.steps, opts.threads))
            last = runs[arm][-1]
            print(f"round {round_no + 1} {arm}: {last['tokens_per_s']:.0f} tokens/s, "
                  f"{last['tokens_per_cpu_s']:.0f} per CPU-second, {last['s_per_step']:.2f} s/step, "
                  f"peak RSS {last['peak_rss_gb']:.2f} GB (load average {loads[-1]:.1f})", flush=True)
    best = {arm: {"tokens_per_s": max(r["tokens_per_s"] for r in rs),
                  "tokens_per_cpu_s": max(r["tokens_per_cpu_s"] for r in rs),
                  "s_per_step": min(r["s_per_step"] for r in rs),
                  "peak_rss_gb": max(r["peak_rss_gb"] for r in rs),
                  "precision": rs[0]["precision"], "packing": rs[0]["packing"]} for arm, rs in runs.items()}
    report = {"machine": machine(), "steps": opts.steps, "rounds": opts.rounds, "threads": opts.threads,
              "load_avg_during": [round(x, 2) for x in loads], "arms": best, "runs": runs}
    for other in ("before", "trl"):
        if "after" in best and other in best:
            report[f"after_vs_{other}"] = {
                "tokens_per_s": ratio(best["after"]["tokens_per_s"], best[other]["tokens_per_s"]),
                "tokens_per_cpu_s": ratio(best["after"]["tokens_per_cpu_s"], best[other]["tokens_per_cpu_s"]),
                "peak_rss": ratio(best["after"]["peak_rss_gb"], best[other]["peak_rss_gb"])}
    for arm, fig in best.items():
        print(f"{arm:7} {fig['tokens_per_s']:7.0f} tokens/s ({fig['tokens_per_cpu_s']:.0f} per CPU-second, "
              f"{fig['s_per_step']:.2f} s/step), peak RSS {fig['peak_rss_gb']:.2f} GB, {fig['precision']}"
              f"{', packed' if fig['packing'] else ''}")
    for other in ("before", "trl"):
        r = report.get(f"after_vs_{other}")
        if r:
            print(f"after / {other}: {r['tokens_per_s']}x tokens/s wall-clock, {r['tokens_per_cpu_s']}x per "
                  f"CPU-second, {r['peak_rss']}x peak RSS")
    target = report.get("after_vs_trl", {}).get("tokens_per_cpu_s")
    report["met"] = bool(target and target >= 2.0)
    print(f"target after >= 2x plain TRL: {'met' if report['met'] else 'NOT met'}; load average "
          f"{min(loads):.1f}-{max(loads):.1f} during the runs")
    if opts.json:
        opts.json.parent.mkdir(parents=True, exist_ok=True)
        opts.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
