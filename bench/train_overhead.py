"""Training throughput of `evalkit train` vs the same configuration in plain TRL, measured in one run.

Usage: python bench/train_overhead.py [--steps 6] [--rounds 2] [--rows 96] [--json OUT.json]

Both arms train the default model (nf4, float32 compute on CPU) with the same
LoRA (r 16, alpha 32, dropout 0.05, all linear layers), batch size, optimizer, learning
rate and support-triage chat rows, without gradient checkpointing or
validation. The plain-TRL arm is what a user would write by hand: the rows
rendered with the chat template into a prompt/completion dataset, a
``LoraConfig``, an ``SFTConfig`` and ``SFTTrainer`` (its adapters are put back
to float32 as evalkit does, so only the wrapper differs). Throughput is
non-padding tokens per second over steps 2..N, timed by the same callback in
both arms, on the wall clock and per CPU-second of the process (the latter is
what the work costs, and is far less disturbed by other jobs on a shared
machine); rounds alternate the arms so background load hits both alike, and
each arm's best round (the least disturbed) is the headline figure, medians
are kept in the JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchlib import REPO, machine, step_timer

DATA = REPO / "suites" / "support-triage" / "train_chat.jsonl"


def evalkit_arm(rows: Path, steps: int, batch: int, work: Path) -> dict:
    """Train through `evalkit.train.trainer.train` and time its steps."""
    from evalkit.train.spec import TrainSpec
    from evalkit.train.trainer import train

    spec = TrainSpec.model_validate({
        "name": "bench", "data": {"path": str(rows)}, "validation": None, "output_dir": str(work / "evalkit"),
        "training": {"max_steps": steps, "batch_size": batch, "lr": 2e-4, "save_steps": steps,
                     "logging_steps": 1, "gradient_checkpointing": False}})
    timer = step_timer()
    started = time.perf_counter()
    train(spec, callbacks=[timer])
    return {**timer.rates(), "wall_s": time.perf_counter() - started}


def trl_arm(rows: Path, steps: int, batch: int, work: Path) -> dict:
    """The same training written directly against transformers + peft + TRL."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
    from trl import SFTConfig, SFTTrainer

    from evalkit.models.registry import resolve_base

    started = time.perf_counter()
    base = resolve_base("evalkit:smollm2-135m-instruct")
    tokenizer = AutoTokenizer.from_pretrained(base)
    records = []
    for line in rows.read_text(encoding="utf-8").splitlines():
        messages = json.loads(line)["messages"]
        prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
        records.append({"prompt": prompt, "completion": messages[-1]["content"] + "<|im_end|>"})
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=torch.float32)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, quantization_config=quant)
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                      task_type="CAUSAL_LM")
    args = SFTConfig(output_dir=str(work / "trl"), max_steps=steps, per_device_train_batch_size=batch,
                     learning_rate=2e-4, lr_scheduler_type="cosine", warmup_steps=0.05, max_length=1024,
                     optim="adamw_torch",
                     gradient_checkpointing=False, bf16=False, use_cpu=True, save_strategy="no",
                     logging_steps=1, report_to="none", disable_tqdm=True,
                     include_num_input_tokens_seen="non_padding")
    timer = step_timer()
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(records),
                         processing_class=tokenizer, peft_config=lora, callbacks=[timer])
    for param in trainer.model.parameters():
        if param.requires_grad:
            param.data = param.data.float()
    trainer.train()
    return {**timer.rates(), "wall_s": time.perf_counter() - started}


def main() -> None:
    """Run both arms, alternating, and print tokens/s and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rows", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--json", type=Path, default=None)
    opts = parser.parse_args()
    results: dict[str, list[dict]] = {"evalkit": [], "trl": []}
    with tempfile.TemporaryDirectory(prefix="train-overhead-") as tmp:
        work = Path(tmp)
        rows = work / "rows.jsonl"
        rows.write_text("\n".join(DATA.read_text(encoding="utf-8").splitlines()[: opts.rows]) + "\n")
        for round_no in range(opts.rounds):
            order = ("evalkit", "trl") if round_no % 2 == 0 else ("trl", "evalkit")
            for arm in order:
                run_dir = work / f"{arm}-{round_no}"
                fn = evalkit_arm if arm == "evalkit" else trl_arm
                results[arm].append(fn(rows, opts.steps, opts.batch_size, run_dir))
                last = results[arm][-1]
                print(f"round {round_no + 1} {arm}: {last['tokens_per_s']:.1f} tokens/s, "
                      f"{last['tokens_per_cpu_s']:.1f} tokens per CPU-second (wall {last['wall_s']:.1f} s)",
                      file=sys.stderr, flush=True)
    summary = {"machine": machine(), "steps": opts.steps, "rounds": opts.rounds,
               "batch_size": opts.batch_size, "runs": results}
    for key in ("tokens_per_s", "tokens_per_cpu_s"):  # best round: the least disturbed by other jobs
        for arm in ("evalkit", "trl"):
            summary[f"{arm}_{key}"] = round(max(r[key] for r in results[arm]), 3)
            summary[f"{arm}_{key}_median"] = round(statistics.median(r[key] for r in results[arm]), 3)
        summary[f"ratio_{key}"] = round(summary[f"evalkit_{key}"] / summary[f"trl_{key}"], 4)
    for arm, label in (("evalkit", "evalkit train"), ("trl", "plain TRL")):
        wall, cpu = summary[f"{arm}_tokens_per_s"], summary[f"{arm}_tokens_per_cpu_s"]
        step = min(r["s_per_step"] for r in results[arm])
        print(f"{label:14} {wall:.1f} tokens/s ({cpu:.1f} per CPU-second, {step:.2f} s/step), best of "
              f"{opts.rounds} rounds")
    print(f"ratio evalkit/TRL: {summary['ratio_tokens_per_s']:.3f} wall-clock, "
          f"{summary['ratio_tokens_per_cpu_s']:.3f} per CPU-second (1.0 = no wrapper overhead; "
          f"load average {summary['machine']['load_avg_1m']})")
    if opts.json:
        opts.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
