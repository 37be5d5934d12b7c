"""`train`: QLoRA fine-tuning of a TrainSpec with transformers + bitsandbytes + peft + TRL's SFTTrainer.

TRL stays behind the TrainSpec: this module maps the spec onto model loading,
a ``LoraConfig`` and an ``SFTConfig``; users never see TRL argument names.
Rows are pre-tokenized by :mod:`evalkit.train.data` (prompt rendered exactly as
evaluation renders it, labels masked to the answer), so the loss is on the
completion only. With ``training.packing`` (the default) a batch's rows are
concatenated without padding (:mod:`evalkit.train.packing`) and the loss runs
the LM head on answer positions only (:mod:`evalkit.train.loss`);
``training.precision`` picks bf16 autocast where it is measured faster
(:mod:`evalkit.train.precision`). Works under ``accelerate launch``: only the
main process prints and writes cards and specs.
"""

from __future__ import annotations

import math
import os
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import ConfigError
from evalkit.train.card import CardContext, CheckpointCards, Meter, build_card, say, write_adapter_files
from evalkit.train.checkpoints import check_output_dir, last_checkpoint
from evalkit.train.data import encode_examples, end_of_turn, load_training_data, truncation_warning
from evalkit.train.memory import TrimHeapPerStep
from evalkit.train.precision import Precision, resolve_precision
from evalkit.train.spec import TrainingError, TrainSpec, resolve_device_defaults
from evalkit.train.threads import ThreadsPerStep

# non-reentrant checkpointing: works with autocast and with inputs that do not require grad
CHECKPOINTING = {"use_reentrant": False}


@dataclass
class TrainResult:
    """What a training run produced."""

    output_dir: Path
    tuned_spec: Path | None
    card: dict | None
    interrupted: bool
    last_checkpoint: Path | None
    is_main: bool = True


def linear_module_names(model) -> list[str]:
    """The distinct short names of the model's linear layers (LoRA candidates), without the LM head."""
    import torch

    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
             if isinstance(module, torch.nn.Linear) and name}
    return sorted(names - {"lm_head"})


def _device() -> tuple[bool, bool]:
    import torch

    cuda = torch.cuda.is_available()
    return cuda, cuda and torch.cuda.is_bf16_supported()


def load_training_model(base_dir: str, quantization: str, *, cuda: bool, precision: str, local_rank: int,
                        gradient_checkpointing: bool, sharded: bool = False):
    """The base model prepared for (Q)LoRA: quantized per the spec, compute dtype per device and precision.

    On a GPU the weights load in the compute dtype (``precision``: bf16, fp16
    or fp32); on a CPU they stay float32 and, with bf16, the 4-bit layers
    dequantize straight to bf16 for the autocast matmuls. ``sharded`` (FSDP or
    DeepSpeed ZeRO-3) stores 4-bit weights in the compute dtype, which is what
    lets those shard a quantized base, and leaves device placement to them.
    """
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from evalkit.models.hf_loading import quantization_config

    hf_logging.disable_progress_bar()
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    compute = dtypes[precision] if cuda else torch.float32
    kwargs: dict = {"dtype": compute}
    qconfig = quantization_config(quantization, dtypes[precision] if quantization == "nf4" else compute)
    if qconfig is not None:
        if sharded and quantization == "int8":
            raise TrainingError("quantization: int8 cannot be sharded by FSDP or DeepSpeed ZeRO-3.",
                                hint="use quantization: nf4 (QLoRA) or none with a sharded setup")
        if sharded:
            qconfig.bnb_4bit_quant_storage = compute
        kwargs["quantization_config"] = qconfig
    if cuda and qconfig is not None and not sharded:  # bitsandbytes quantizes on the GPU of each process
        kwargs["device_map"] = {"": local_rank}
    try:
        model = AutoModelForCausalLM.from_pretrained(base_dir, **kwargs)
    except (OSError, ImportError, ValueError) as exc:
        raise TrainingError(f"could not load {base_dir!r} with quantization {quantization!r}: "
                            f"{str(exc).splitlines()[0][:300]}",
                            hint="quantization: none trains a plain LoRA without bitsandbytes") from None
    if quantization == "nf4" and not cuda:
        keep_4bit_layers_differentiable(model)
    if qconfig is not None and not sharded:  # it upcasts norms to float32: FSDP needs one dtype to shard
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing,
                                                gradient_checkpointing_kwargs=CHECKPOINTING)
    return model


def keep_4bit_layers_differentiable(model) -> None:
    """Stop bitsandbytes repacking 4-bit weights for its CPU inference kernel during validation.

    On CPUs with AVX512_BF16 a ``Linear4bit`` in eval mode without gradients
    (a validation pass) rewrites its weight in place into a layout whose
    matmul has no backward; training steps after it would then get no gradient
    through the frozen base layers until a checkpoint save happens to convert
    the weight back.
    """
    import bitsandbytes as bnb

    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False


def check_target_modules(model, target_modules) -> None:
    """Refuse LoRA target names that match no layer, listing the model's linear module names.

    A name matches a layer (a module without children) by its full dotted
    name or a dotted suffix of it (``q_proj``, ``self_attn.q_proj``).
    """
    if target_modules == "all-linear":
        return
    layers = [name for name, module in model.named_modules() if name and not any(module.children())]
    missing = [t for t in target_modules if not any(n == t or n.endswith("." + t) for n in layers)]
    if missing:
        raise ConfigError(f"lora.target_modules: {', '.join(repr(m) for m in missing)} "
                          f"{'does' if len(missing) == 1 else 'do'} not name a layer of this model. "
                          f"Its linear modules are: {', '.join(linear_module_names(model))}.",
                          hint="use names from that list, or target_modules: all-linear")


def _is_oom(exc: BaseException) -> bool:
    text = str(exc).lower()
    return (type(exc).__name__ == "OutOfMemoryError" or "out of memory" in text
            or "can't allocate memory" in text)


def _settings(spec: TrainSpec, training, n_train: int, world: int, cuda: bool, precision: Precision) -> dict:
    per_step = training.batch_size * training.grad_accum * world
    steps = training.max_steps or max(1, math.ceil(math.ceil(n_train / per_step) * training.epochs))
    save_steps = training.save_steps or max(1, math.ceil(steps / 4))
    doc = {"device": "cuda" if cuda else "cpu", "processes": world, "precision": precision.name,
           "precision_reason": precision.reason, "gradient_checkpointing": training.gradient_checkpointing,
           "packing": training.packing,
           "loss": "completion positions only, chunked" if training.packing else "full logits",
           "total_steps": steps, "save_steps": save_steps, "examples_per_step": per_step}
    if precision.probe:
        doc["precision_probe"] = precision.probe
    return doc


def _sft_config(spec: TrainSpec, training, settings: dict, has_validation: bool, cuda: bool,
                precision: str):
    from trl import SFTConfig

    return SFTConfig(
        output_dir=spec.output_dir, num_train_epochs=training.epochs, max_steps=training.max_steps or -1,
        learning_rate=training.lr, lr_scheduler_type=training.scheduler, warmup_steps=training.warmup_ratio,
        per_device_train_batch_size=training.batch_size, per_device_eval_batch_size=training.batch_size,
        gradient_accumulation_steps=training.grad_accum, max_length=training.max_length,
        packing=False, gradient_checkpointing=training.gradient_checkpointing,
        gradient_checkpointing_kwargs=CHECKPOINTING, seed=training.seed,
        optim=training.optimizer, weight_decay=training.weight_decay, max_grad_norm=training.max_grad_norm,
        save_strategy="steps", save_steps=settings["save_steps"], logging_steps=training.logging_steps,
        eval_strategy="steps" if has_validation else "no", eval_steps=settings["save_steps"],
        bf16=precision == "bf16", fp16=precision == "fp16", use_cpu=not cuda, report_to="none",
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding", completion_only_loss=False, save_only_model=False,
        dataloader_pin_memory=cuda, log_level="warning", prediction_loss_only=training.packing,
    )


@dataclass
class Prepared:
    """Everything a run needs before the model loads: tokenized rows, resolved settings, the card context."""

    tokenizer: object
    train_rows: list[dict]
    val_rows: list[dict]
    training: object
    settings: dict
    ctx: CardContext
    cuda: bool
    precision: Precision


def prepare(spec: TrainSpec, state) -> Prepared:
    """Resolve the base, read and tokenize the data, choose per-device settings (warnings printed once)."""
    from evalkit.models.hf_loading import load_tokenizer
    from evalkit.models.prompting import apply_template_policy
    from evalkit.models.registry import resolve_base, weights_fingerprint

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
    cuda, cuda_bf16 = _device()
    training = resolve_device_defaults(spec.training, cuda=cuda)
    precision = resolve_precision(training.precision, cuda=cuda, cuda_bf16=cuda_bf16)
    settings = _settings(spec, training, len(train_rows), state.num_processes, cuda, precision)
    notes = [w for w in (truncation_warning(train_rows + val_rows, training.max_length),) if w]
    for note in notes:
        say(state.is_main_process, note, "warning")
    data_doc = {"source": data.source, "format": data.format, "sha256": data.sha256, "rows": data.rows,
                "train_rows": len(train_rows), "validation_rows": len(val_rows),
                "validation_source": data.validation_source, "end_of_turn": eot,
                "train_tokens": sum(len(r["input_ids"]) for r in train_rows),
                "answer_tokens": sum(sum(1 for x in r["labels"] if x != -100) for r in train_rows)}
    ctx = CardContext(spec, base_dir, fingerprint, data_doc, settings, notes)
    return Prepared(tokenizer, train_rows, val_rows, training, settings, ctx, cuda, precision)


def trainer_class(packing: bool):
    """evalkit's ``SFTTrainer``: parameters counted once for the FLOP estimate; with ``packing``, the
    completion-only loss of :mod:`evalkit.train.loss` (for packed batches)."""
    from trl import SFTTrainer

    from evalkit.train.loss import forward_completion_loss

    class CountOnceSFTTrainer(SFTTrainer):
        """``SFTTrainer`` whose FLOP estimate counts the model's parameters once, not at every step."""

        def floating_point_ops(self, inputs) -> int:
            """The trainer's FLOP estimate (6 x tokens x parameters), with the parameters counted once.

            The trainer's own version counts the model's parameters again at every step: about
            0.1 s a step on the demo's nf4 model.
            """
            if not hasattr(self, "_flop_parameters"):
                self._flop_parameters = self.model.num_parameters(exclude_embeddings=True)
            return 6 * inputs["input_ids"].numel() * self._flop_parameters

    class PackedSFTTrainer(CountOnceSFTTrainer):
        """Computes the loss from answer positions only; never builds the full logits."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            """The mean token loss over the batch's answers (over ``num_items_in_batch`` when given)."""
            loss, _ = forward_completion_loss(model, inputs, num_items_in_batch)
            return (loss, {"loss": loss}) if return_outputs else loss

    return PackedSFTTrainer if packing else CountOnceSFTTrainer


def build_trainer(spec: TrainSpec, prep: Prepared, state, callbacks: list):
    """The configured ``SFTTrainer``: model loaded, LoRA targets checked, adapters float32 (bf16 on GPUs)."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import PrinterCallback

    from evalkit.train.packing import PackedCollator, use_varlen_attention

    training = prep.training
    precision = prep.precision.name
    args = _sft_config(spec, training, prep.settings, bool(prep.val_rows), prep.cuda, precision)
    plugin = args.deepspeed_plugin
    sharded = os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true" or (
        plugin is not None and plugin.zero_stage == 3)
    model = load_training_model(prep.ctx.base_dir, spec.quantization, cuda=prep.cuda, precision=precision,
                                gradient_checkpointing=bool(training.gradient_checkpointing),
                                local_rank=state.local_process_index, sharded=sharded)
    check_target_modules(model, spec.lora.target_modules)
    lora = LoraConfig(r=spec.lora.r, lora_alpha=spec.lora.alpha, lora_dropout=spec.lora.dropout, bias="none",
                      target_modules=spec.lora.target_modules, task_type="CAUSAL_LM")
    extra = {"data_collator": PackedCollator(training.max_length)} if training.packing else {}
    cls = trainer_class(training.packing)
    trainer = cls(model=model, args=args, train_dataset=Dataset.from_list(prep.train_rows),
                  eval_dataset=Dataset.from_list(prep.val_rows) if prep.val_rows else None,
                  processing_class=prep.tokenizer, peft_config=lora, callbacks=callbacks, **extra)
    trainer.remove_callback(PrinterCallback)  # it prints raw log dicts; progress is the callbacks' job
    if training.packing:
        use_varlen_attention(trainer.model)
    # TRL casts QLoRA adapters to bf16: slow on CPUs (autocast wants float32 masters there), unusable for fp16
    if not (prep.cuda and precision == "bf16"):
        for param in trainer.model.parameters():
            if param.requires_grad:
                param.data = param.data.float()
    return trainer


@contextmanager
def quiet():
    """Silence dataset-map progress bars and deprecation chatter from the training stack.

    Also bitsandbytes' import-time note about an optional CPU kernel package,
    which training does not use.
    """
    import datasets

    from evalkit.models.hf_loading import silence_bitsandbytes_notice

    silence_bitsandbytes_notice()
    was_on = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        if was_on:
            datasets.enable_progress_bars()


def train(spec: TrainSpec, *, resume: bool = False, callbacks: list | None = None) -> TrainResult:
    """Train a LoRA adapter for ``spec``; writes the adapter, its card and ``tuned.yaml`` into ``output_dir``.

    With ``resume`` it continues from the last ``checkpoint-N`` in
    ``output_dir``. A first Ctrl-C (or SIGTERM) finishes the current step,
    saves a checkpoint and returns with ``interrupted=True``. ``callbacks``
    are extra ``TrainerCallback`` objects (the CLI's progress display).
    """
    from accelerate import PartialState

    started = time.perf_counter()
    state = PartialState()
    main = state.is_main_process
    output_dir = Path(spec.output_dir or "adapters/train").resolve()
    spec = spec.model_copy(update={"output_dir": str(output_dir)})
    previous = check_output_dir(output_dir, resume)
    meter = Meter(graceful=state.num_processes == 1 and threading.current_thread() is threading.main_thread())
    with quiet():
        prep = prepare(spec, state)
        steps = [CheckpointCards(prep.ctx), meter, ThreadsPerStep(), TrimHeapPerStep(), *(callbacks or [])]
        trainer = build_trainer(spec, prep, state, steps)
        settings = prep.settings
        say(main, f"training {spec.name or 'adapter'}: {len(prep.train_rows)} train / {len(prep.val_rows)} "
            f"validation rows, {settings['total_steps']} steps of {settings['examples_per_step']} on "
            f"{settings['device']} ({spec.quantization}, {settings['precision']}), checkpoints every "
            f"{settings['save_steps']} steps")
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
    stats = {**meter.stats(trainer.state, settings["examples_per_step"]),
             "wall_time_s": round(time.perf_counter() - started, 2)}
    card = build_card(prep.ctx, step=trainer.state.global_step, log_history=trainer.state.log_history,
                      stats=stats, final=True)
    return TrainResult(output_dir, write_adapter_files(output_dir, prep.ctx, card), card, False, last, True)
