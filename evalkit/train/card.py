"""The adapter card (``evalkit-card.json``) and the ready-to-run ``tuned.yaml`` written next to an adapter.

The card records what the adapter was trained on (base weights fingerprint,
data hash and row counts, the full TrainSpec, package versions) and how the
training went (loss history, wall time, tokens and examples per second).
Evaluation reads its ``base_fingerprint`` to refuse an adapter on another base.
Every checkpoint gets the same two files, so ``checkpoint-N/tuned.yaml`` loads
exactly like the final adapter. :class:`Meter` times the training loop for the
card's throughput figures.
"""

from __future__ import annotations

import shutil
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml
from transformers import TrainerCallback

from evalkit.models.hf_loading import ADAPTER_CARD
from evalkit.notices import notify
from evalkit.runner.store import write_json_atomic, write_text_atomic
from evalkit.train.spec import TrainSpec
from evalkit.versions import package_versions

TUNED_SPEC = "tuned.yaml"
TEMPLATE_COPY = "evalkit-chat-template.jinja"
CARD_FORMAT = 1


@dataclass
class CardContext:
    """What every card of one training run shares."""

    spec: TrainSpec
    base_dir: str
    base_fingerprint: str
    data: dict
    settings: dict
    warnings: list[str] = field(default_factory=list)


def loss_history(log_history: list[dict]) -> dict:
    """Train and validation loss per logged step, from the trainer's log history."""
    train = [{"step": e["step"], "loss": round(e["loss"], 5)} for e in log_history if "loss" in e]
    validation = [{"step": e["step"], "loss": round(e["eval_loss"], 5)}
                  for e in log_history if "eval_loss" in e]
    return {"train": train, "validation": validation}


def build_card(ctx: CardContext, *, step: int, log_history: list[dict], stats: dict | None = None,
               final: bool = False) -> dict:
    """The card of the adapter saved at ``step`` (``final`` for the finished run's own adapter)."""
    return {
        "format": CARD_FORMAT,
        "kind": "final" if final else "checkpoint",
        "step": step,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "base": ctx.spec.base,
        "base_dir": ctx.base_dir,
        "base_fingerprint": ctx.base_fingerprint,
        "data": ctx.data,
        "train_spec": ctx.spec.model_dump(mode="json"),
        "settings": ctx.settings,
        "versions": package_versions(),
        "loss_history": loss_history(log_history),
        "stats": stats or {},
        "warnings": list(ctx.warnings),
    }


def tuned_spec(spec: TrainSpec, *, adapter: str = ".", chat_template: str | None = None) -> dict:
    """The ModelSpec (as a dict) of the tuned arm: same base and prompting as training, with the adapter.

    With a ``reference`` model spec, its evaluation settings (generation, dtype,
    quantization, suites) are copied, so the tuned arm differs from the arm it
    is compared with only in the adapter (and in the prompting it was trained with).
    """
    doc: dict = {"name": spec.name or "tuned", "base": spec.base, "adapter": adapter,
                 "chat_template": chat_template or spec.chat_template}
    if spec.system_prompt:
        doc["system_prompt"] = spec.system_prompt
    if spec.reference is None:
        doc["generation"] = spec.generation.model_dump(mode="json")
        if spec.eval_suites:
            doc["suites"] = list(spec.eval_suites)
        return doc
    from evalkit.models.spec import load_model_spec

    reference = load_model_spec(spec.reference)
    doc["generation"] = reference.generation.model_dump(mode="json")
    doc["dtype"], doc["quantization"] = reference.dtype, reference.quantization
    if spec.eval_suites or reference.suites:
        doc["suites"] = list(spec.eval_suites or reference.suites)
    return doc


def write_adapter_files(folder: str | Path, ctx: CardContext, card: dict, *, name_suffix: str = "") -> Path:
    """Write the card and ``tuned.yaml`` into an adapter folder; returns the tuned.yaml path.

    A chat template given as a file is copied next to the adapter so the
    folder stays self-contained and can be moved or shared.
    """
    folder = Path(folder)
    write_json_atomic(folder / ADAPTER_CARD, card)
    template = None
    if ctx.spec.chat_template not in ("auto", "none"):
        shutil.copyfile(ctx.spec.chat_template, folder / TEMPLATE_COPY)
        template = TEMPLATE_COPY
    doc = tuned_spec(ctx.spec, chat_template=template)
    if name_suffix:
        doc["name"] = f"{doc['name']}{name_suffix}"
    header = (f"# The tuned arm written by `evalkit train` (step {card['step']}); run it with\n"
              f"#   evalkit run {folder / TUNED_SPEC}\n")
    path = folder / TUNED_SPEC
    return write_text_atomic(path, header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))


class CheckpointCards(TrainerCallback):
    """Writes the card and tuned.yaml into each ``checkpoint-N`` folder as it is saved (main process only)."""

    def __init__(self, ctx: CardContext):
        self.ctx = ctx

    def on_save(self, args, state, control, **kwargs):
        """Called by the trainer right after a checkpoint folder is written."""
        if not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if folder.is_dir():
            card = build_card(self.ctx, step=state.global_step, log_history=state.log_history)
            write_adapter_files(folder, self.ctx, card, name_suffix=f"-step{state.global_step}")


def say(main: bool, message: str, label: str = "") -> None:
    """A status notice (:func:`evalkit.notices.notify`), from the main process only."""
    if main:
        notify(message, label)


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
            say(True, "finishing this step and saving a checkpoint (Ctrl-C again to abort)", "stopping")

        old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, previous in old.items():
                signal.signal(sig, previous)

    def stats(self, state, examples_per_step: int) -> dict:
        """Steps, seconds per step, examples/s and tokens/s of this session's training loop."""
        evaluating = sum(e.get("eval_runtime", 0.0) for e in state.log_history
                         if e.get("step", 0) > self.step0)  # this session's validation passes
        seconds = max(1e-9, (self.t1 or time.perf_counter()) - self.t0 - evaluating)
        steps, tokens = state.global_step - self.step0, state.num_input_tokens_seen - self.tokens0
        return {"steps": state.global_step, "session_steps": steps, "train_loop_s": round(seconds, 2),
                "s_per_step": round(seconds / max(steps, 1), 3),
                "tokens_seen": int(state.num_input_tokens_seen),
                "train_examples_per_s": round(steps * examples_per_step / seconds, 3),
                "train_tokens_per_s": round(tokens / seconds, 1)}
