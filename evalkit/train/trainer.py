"""`train`: QLoRA fine-tuning of a TrainSpec with transformers + bitsandbytes + peft + TRL's SFTTrainer.

TRL stays behind the TrainSpec: this module maps the spec onto model loading,
a ``LoraConfig`` and an ``SFTConfig``; users never see TRL argument names.
Rows are pre-tokenized by :mod:`evalkit.train.data` (prompt rendered exactly as
evaluation renders it, labels masked to the answer), so the loss is on the
completion only. Works under ``accelerate launch``: only the main process
prints and writes cards and specs.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from transformers import TrainerCallback

from evalkit.errors import ConfigError, EvalkitError
from evalkit.train.card import CardContext, CheckpointCards, build_card, write_adapter_files
from evalkit.train.data import encode_examples, end_of_turn, load_training_data, truncation_warning
from evalkit.train.spec import TrainSpec, resolve_device_defaults


class TrainingError(EvalkitError):
    """Training could not run (out of memory, bad LoRA targets, nothing to resume...)."""


@dataclass
class TrainResult:
    """What a training run produced."""

    output_dir: Path
    tuned_spec: Path | None
    card: dict | None
    interrupted: bool
    last_checkpoint: Path | None
    is_main: bool = True


def say(main: bool, message: str) -> None:
    """Print a status line on stderr, from the main process only."""
    if main:
        from evalkit.cli_support import err_console

        err_console.print(message, highlight=False, soft_wrap=True)


class Meter(TrainerCallback):
    """Times the training loop (minus evaluation) and turns the first Ctrl-C/SIGTERM into save-and-stop.

    The signal handlers are only installed in the main thread of a single
    process: under ``accelerate launch`` ranks could stop at different steps.
    """

    def __init__(self, graceful: bool):
        self.graceful, self.fired = graceful, False
        self.t0 = self.t1 = 0.0
        self.step0 = self.tokens0 = 0

    def on_train_begin(self, args, state, control, **kwargs):
        """Remember where this session starts (a resumed run starts mid-way)."""
        self.t0, self.step0 = time.perf_counter(), state.global_step
        self.tokens0 = state.num_input_tokens_seen

    def on_step_end(self, args, state, control, **kwargs):
        """Save a checkpoint and stop when a signal arrived."""
        if self.fired:
            control.should_save = control.should_training_stop = True

    def on_train_end(self, args, state, control, **kwargs):
        """Stop the clock."""
        self.t1 = time.perf_counter()

    @contextmanager
    def installed(self):
        """SIGINT/SIGTERM handlers for the duration of training (first signal: stop after this step)."""
        if not self.graceful:
            yield
            return

        def handler(signum, frame):
            if self.fired:
                raise KeyboardInterrupt
            self.fired = True
            say(True, "[yellow]stopping:[/] finishing this step and saving a checkpoint "
                "(Ctrl-C again to abort)")

        old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, previous in old.items():
                signal.signal(sig, previous)

    def stats(self, state, examples_per_step: int) -> dict:
        """Steps, seconds per step, examples/s and tokens/s of this session's training loop."""
        evaluating = sum(e.get("eval_runtime", 0.0) for e in state.log_history)
        seconds = max(1e-9, (self.t1 or time.perf_counter()) - self.t0 - evaluating)
        steps, tokens = state.global_step - self.step0, state.num_input_tokens_seen - self.tokens0
        return {"steps": state.global_step, "session_steps": steps, "train_loop_s": round(seconds, 2),
                "s_per_step": round(seconds / max(steps, 1), 3),
                "tokens_seen": int(state.num_input_tokens_seen),
                "train_examples_per_s": round(steps * examples_per_step / seconds, 3),
                "train_tokens_per_s": round(tokens / seconds, 1)}


def linear_module_names(model) -> list[str]:
    """The distinct short names of the model's linear layers (LoRA candidates), without the LM head."""
    import torch

    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
             if isinstance(module, torch.nn.Linear) and name}
    return sorted(names - {"lm_head"})


def last_checkpoint(output_dir: str | Path) -> Path | None:
    """The ``checkpoint-N`` folder with the highest N in ``output_dir``, if any."""
    folders = [p for p in Path(output_dir).glob("checkpoint-*") if p.is_dir() and p.name[11:].isdigit()]
    return max(folders, key=lambda p: int(p.name[11:])) if folders else None


def _check_output_dir(output_dir: Path, resume: bool) -> Path | None:
    previous = last_checkpoint(output_dir)
    if resume and previous is None:
        raise TrainingError(f"--resume: no checkpoint-N folder in {output_dir} to continue from.",
                            hint="run without --resume to start training")
    if not resume and (previous is not None or (output_dir / "adapter_config.json").exists()):
        raise TrainingError(f"{output_dir} already holds a trained adapter or checkpoints.",
                            hint="pass --resume to continue from its last checkpoint, or choose another "
                            "output_dir (or delete that folder) to start over")
    return previous if resume else None


def _device() -> tuple[bool, bool]:
    import torch

    cuda = torch.cuda.is_available()
    return cuda, cuda and torch.cuda.is_bf16_supported()


def load_training_model(base_dir: str, quantization: str, *, cuda: bool, bf16: bool, local_rank: int,
                        gradient_checkpointing: bool):
    """The base model prepared for (Q)LoRA: quantized per the spec, compute dtype per device."""
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from evalkit.models.hf_loading import quantization_config

    hf_logging.disable_progress_bar()
    compute = torch.float32 if not cuda else (torch.bfloat16 if bf16 else torch.float16)
    kwargs: dict = {"dtype": compute}
    qconfig = quantization_config(quantization, compute)
    if qconfig is not None:
        kwargs["quantization_config"] = qconfig
    if cuda:
        kwargs["device_map"] = {"": local_rank}
    try:
        model = AutoModelForCausalLM.from_pretrained(base_dir, **kwargs)
    except (OSError, ImportError, ValueError) as exc:
        raise TrainingError(f"could not load {base_dir!r} with quantization {quantization!r}: "
                            f"{str(exc).splitlines()[0][:300]}",
                            hint="quantization: none trains a plain LoRA without bitsandbytes") from None
    if qconfig is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    return model


def check_target_modules(model, target_modules) -> None:
    """Refuse LoRA target names that match no linear layer, listing the model's linear module names."""
    if target_modules == "all-linear":
        return
    names = linear_module_names(model)
    full = [name for name, _ in model.named_modules()]
    missing = [t for t in target_modules if not any(n == t or n.endswith("." + t) for n in full)]
    if missing:
        raise ConfigError(f"lora.target_modules: {', '.join(repr(m) for m in missing)} "
                          f"{'is' if len(missing) == 1 else 'are'} not a module of this model. "
                          f"Its linear modules are: {', '.join(names)}.",
                          hint="use names from that list, or target_modules: all-linear")


def _is_oom(exc: BaseException) -> bool:
    text = str(exc).lower()
    return (type(exc).__name__ == "OutOfMemoryError" or "out of memory" in text
            or "can't allocate memory" in text)


def _settings(spec: TrainSpec, training, n_train: int, world: int, cuda: bool, bf16: bool) -> dict:
    per_step = training.batch_size * training.grad_accum * world
    steps = training.max_steps or max(1, math.ceil(math.ceil(n_train / per_step) * training.epochs))
    save_steps = training.save_steps or max(1, math.ceil(steps / 4))
    return {"device": "cuda" if cuda else "cpu", "processes": world, "precision": "bf16" if bf16 else
            ("fp16" if cuda else "fp32"), "gradient_checkpointing": training.gradient_checkpointing,
            "total_steps": steps, "save_steps": save_steps, "examples_per_step": per_step}


def _sft_config(spec: TrainSpec, training, settings: dict, has_validation: bool, cuda: bool, bf16: bool):
    from trl import SFTConfig

    return SFTConfig(
        output_dir=spec.output_dir, num_train_epochs=training.epochs, max_steps=training.max_steps or -1,
        learning_rate=training.lr, lr_scheduler_type=training.scheduler, warmup_steps=training.warmup_ratio,
        per_device_train_batch_size=training.batch_size, per_device_eval_batch_size=training.batch_size,
        gradient_accumulation_steps=training.grad_accum, max_length=training.max_length,
        packing=training.packing, gradient_checkpointing=training.gradient_checkpointing, seed=training.seed,
        optim=training.optimizer, weight_decay=training.weight_decay, max_grad_norm=training.max_grad_norm,
        save_strategy="steps", save_steps=settings["save_steps"], logging_steps=training.logging_steps,
        eval_strategy="steps" if has_validation else "no", eval_steps=settings["save_steps"],
        bf16=bf16, fp16=cuda and not bf16, use_cpu=not cuda, report_to="none", disable_tqdm=True,
        include_num_input_tokens_seen="non_padding", completion_only_loss=False, save_only_model=False,
        dataloader_pin_memory=cuda, log_level="warning",
    )


def train(spec: TrainSpec, *, resume: bool = False, callbacks: list | None = None) -> TrainResult:
    """Train a LoRA adapter for ``spec``; writes the adapter, its card and ``tuned.yaml`` into ``output_dir``.

    With ``resume`` it continues from the last ``checkpoint-N`` in
    ``output_dir``. A first Ctrl-C (or SIGTERM) finishes the current step,
    saves a checkpoint and returns with ``interrupted=True``. ``callbacks``
    are extra ``TrainerCallback`` objects (the CLI's progress display).
    """
    from accelerate import PartialState
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTTrainer

    from evalkit.models.hf_loading import load_tokenizer
    from evalkit.models.prompting import apply_template_policy
    from evalkit.models.registry import resolve_base, weights_fingerprint

    started = time.perf_counter()
    state = PartialState()
    main = state.is_main_process
    output_dir = Path(spec.output_dir or "adapters/train").resolve()
    spec = spec.model_copy(update={"output_dir": str(output_dir)})
    previous = _check_output_dir(output_dir, resume)
    with state.main_process_first():
        base_dir = resolve_base(spec.base)
        fingerprint = weights_fingerprint(base_dir)
    tokenizer = load_tokenizer(base_dir)
    apply_template_policy(tokenizer, spec.chat_template)
    data = load_training_data(spec)
    eot = end_of_turn(tokenizer, spec.chat_template)
    encode = {"system_prompt": spec.system_prompt, "chat_template": spec.chat_template, "eot": eot}
    train_rows = encode_examples(tokenizer, data.train, **encode)
    val_rows = encode_examples(tokenizer, data.validation, **encode)
    cuda, bf16 = _device()
    training = resolve_device_defaults(spec.training, cuda=cuda)
    settings = _settings(spec, training, len(train_rows), state.num_processes, cuda, bf16)
    warnings = [w for w in (truncation_warning(train_rows + val_rows, training.max_length),) if w]
    for warning in warnings:
        say(main, f"[yellow]warning:[/] {warning}")
    data_doc = {"source": data.source, "format": data.format, "sha256": data.sha256, "rows": data.rows,
                "train_rows": len(train_rows), "validation_rows": len(val_rows),
                "validation_source": data.validation_source, "end_of_turn": eot,
                "train_tokens": sum(len(r["input_ids"]) for r in train_rows),
                "answer_tokens": sum(sum(1 for x in r["labels"] if x != -100) for r in train_rows)}
    ctx = CardContext(spec, base_dir, fingerprint, data_doc, settings, warnings)
    model = load_training_model(base_dir, spec.quantization, cuda=cuda, bf16=bf16,
                                gradient_checkpointing=bool(training.gradient_checkpointing),
                                local_rank=state.local_process_index)
    check_target_modules(model, spec.lora.target_modules)
    lora = LoraConfig(r=spec.lora.r, lora_alpha=spec.lora.alpha, lora_dropout=spec.lora.dropout, bias="none",
                      target_modules=spec.lora.target_modules, task_type="CAUSAL_LM")
    meter = Meter(graceful=state.num_processes == 1 and threading.current_thread() is threading.main_thread())
    trainer = SFTTrainer(model=model, args=_sft_config(spec, training, settings, bool(val_rows), cuda, bf16),
                         train_dataset=Dataset.from_list(train_rows),
                         eval_dataset=Dataset.from_list(val_rows) if val_rows else None,
                         processing_class=tokenizer, peft_config=lora,
                         callbacks=[CheckpointCards(ctx), meter, *(callbacks or [])])
    if not bf16:  # TRL casts QLoRA adapters to bf16: slow on CPUs and unusable for fp16 mixed precision
        for param in trainer.model.parameters():
            if param.requires_grad:
                param.data = param.data.float()
    say(main, f"training {spec.name or 'adapter'}: {len(train_rows)} train / {len(val_rows)} validation "
        f"rows, {settings['total_steps']} steps of {settings['examples_per_step']} on {settings['device']} "
        f"({spec.quantization}, {settings['precision']}), checkpoints every {settings['save_steps']} steps")
    try:
        with meter.installed():
            trainer.train(resume_from_checkpoint=str(previous) if previous else None)
    except Exception as exc:
        if _is_oom(exc):
            raise TrainingError(
                f"out of memory while training ({str(exc).splitlines()[0][:200]}).",
                hint="lower training.batch_size (raising training.grad_accum keeps the effective batch), "
                "lower training.max_length, set training.gradient_checkpointing: true, "
                "or use quantization: nf4",
            ) from None
        raise
    last = last_checkpoint(output_dir)
    if meter.fired:
        return TrainResult(output_dir, None, None, True, last, main)
    trainer.save_model(str(output_dir))
    if not main:
        return TrainResult(output_dir, None, None, False, last, False)
    stats = meter.stats(trainer.state, training.batch_size * training.grad_accum * state.num_processes)
    stats["wall_time_s"] = round(time.perf_counter() - started, 2)
    card = build_card(ctx, step=trainer.state.global_step, log_history=trainer.state.log_history,
                      stats=stats, final=True)
    tuned = write_adapter_files(output_dir, ctx, card)
    return TrainResult(output_dir, tuned, card, False, last, True)
