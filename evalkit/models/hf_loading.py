"""Loading base models (once) and PEFT adapters onto them.

A :class:`BasePool` keeps one loaded base per (weights, dtype, quantization);
each adapter is attached to it under its own name, so base, prompt-only and
any number of adapter arms share one copy of the base weights.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from evalkit.errors import ModelError
from evalkit.models.weights_check import BASE_WEIGHTS_HINT, check_weights
from evalkit.notices import notify

ADAPTER_CARD = "evalkit-card.json"


@dataclass
class LoadedBase:
    """A loaded base model, its tokenizer, and the adapters attached so far."""

    model: object
    tokenizer: object
    base_dir: str
    adapters: dict[str, str] = field(default_factory=dict)  # adapter path -> peft adapter name
    lock: threading.Lock = field(default_factory=threading.Lock)

    def select(self, adapter_path: str | None):
        """Activate the adapter at ``adapter_path`` (or none) and return a context manager."""
        from contextlib import nullcontext

        if adapter_path is None:
            if hasattr(self.model, "disable_adapter") and self.adapters:
                return self.model.disable_adapter()
            return nullcontext()
        self.model.set_adapter(self.adapters[adapter_path])
        return nullcontext()


def torch_dtype(name: str):
    """The torch dtype for a spec's dtype name (``auto`` resolved by :mod:`evalkit.models.precision`)."""
    import torch

    from evalkit.models.precision import resolve_dtype

    return getattr(torch, resolve_dtype(name))


def quantization_config(kind: str, compute_dtype):
    """A BitsAndBytesConfig for nf4/int8, or None."""
    if kind == "none":
        return None
    from transformers import BitsAndBytesConfig

    if kind == "nf4":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype,
        )
    return BitsAndBytesConfig(load_in_8bit=True)


def load_tokenizer(base_dir: str):
    """Load a tokenizer for generation: left padding, a pad token."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(base_dir)
    except OSError as exc:
        raise ModelError(
            f"could not load the tokenizer of {base_dir!r}: {str(exc).splitlines()[0]}",
            hint="a hub id needs network access or a local copy; use a local directory or evalkit:<name>",
        ) from None
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_base_model(base_dir: str, dtype: str, quantization: str):
    """Load the base causal LM in eval mode."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    compute = torch_dtype(dtype)
    kwargs = {"dtype": compute}
    qconfig = quantization_config(quantization, compute)
    if qconfig is not None:
        kwargs["quantization_config"] = qconfig
    check_weights(base_dir, "base model", BASE_WEIGHTS_HINT)
    try:
        model = AutoModelForCausalLM.from_pretrained(base_dir, **kwargs)
    except OSError as exc:
        raise ModelError(
            f"could not load model {base_dir!r}: {str(exc).splitlines()[0]}",
            hint="a hub id needs network access or a local copy; use a local directory or evalkit:<name>",
        ) from None
    model.eval()
    return model


def read_adapter_card(adapter_dir: str) -> dict | None:
    """The evalkit card of an adapter directory, if it has one."""
    card = Path(adapter_dir) / ADAPTER_CARD
    if not card.is_file():
        return None
    try:
        data = json.loads(card.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{card}: corrupt adapter card: {exc}.") from None
    if not isinstance(data, dict):
        raise ModelError(f"{card}: corrupt adapter card: expected a JSON object, got {type(data).__name__}.")
    return data


def check_adapter_base(adapter_dir: str, base_fingerprint: str, base_name: str, allow_mismatch: bool) -> None:
    """Refuse an adapter whose card names a different base (unless explicitly allowed)."""
    card = read_adapter_card(adapter_dir)
    if card is None or allow_mismatch:
        return
    expected = card.get("base_fingerprint")
    if expected and expected != base_fingerprint:
        raise ModelError(
            f"adapter {adapter_dir} was trained on base {card.get('base', '?')!r} "
            f"(weights {expected[:12]}), not on {base_name!r} (weights {base_fingerprint[:12]}).",
            hint="point base: at the model the adapter was trained on, or set allow_base_mismatch: true "
            "if you know what you are doing",
        )


def silence_bitsandbytes_notice() -> None:
    """Hide bitsandbytes' import-time note that an optional CPU nf4 kernel (fetched from the Hub) is missing.

    peft imports bitsandbytes, so every adapter arm would print it; it is not an
    error and evaluation on a full-precision base never runs an nf4 kernel.
    """
    import logging

    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)


def attach_adapter(loaded: LoadedBase, adapter_path: str) -> None:
    """Load a PEFT adapter onto the shared base under a stable name."""
    if adapter_path in loaded.adapters:
        return
    path = Path(adapter_path)
    if not (path / "adapter_config.json").is_file():
        raise ModelError(
            f"adapter {adapter_path!r}: no adapter_config.json there (is it a PEFT adapter dir?)."
        )
    check_weights(path, "adapter", "re-train it or restore the adapter folder from where it was saved")
    import warnings

    silence_bitsandbytes_notice()
    from peft import PeftModel

    name = f"a{len(loaded.adapters)}"
    with warnings.catch_warnings():
        # peft asks transformers' deprecated is_gradient_checkpointing; nothing for a user to act on
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
        try:
            if not loaded.adapters and not isinstance(loaded.model, PeftModel):
                loaded.model = PeftModel.from_pretrained(loaded.model, adapter_path, adapter_name=name)
            else:
                loaded.model.load_adapter(adapter_path, adapter_name=name)
        except (ValueError, RuntimeError, KeyError) as exc:
            raise ModelError(f"adapter {adapter_path!r} does not fit this base model: "
                             f"{str(exc)[:400]}") from None
    loaded.model.eval()
    from evalkit.models.row_blocks import block_half_precision_linears

    block_half_precision_linears(loaded.model)  # the adapter's LoRA layers, like the base's
    loaded.adapters[adapter_path] = name


class BasePool:
    """Loads each base model once per process and hands out shared handles."""

    def __init__(self):
        self._bases: dict[tuple, LoadedBase] = {}

    def get(self, base_dir: str, dtype: str, quantization: str) -> LoadedBase:
        """The loaded base for these settings (loading it on first request)."""
        from evalkit.models.precision import resolve_dtype

        key = (base_dir, resolve_dtype(dtype), quantization)  # auto and its resolved name share one load
        if key not in self._bases:
            tok = load_tokenizer(base_dir)
            model = load_base_model(base_dir, dtype, quantization)
            from evalkit.models.row_blocks import block_half_precision_linears

            block_half_precision_linears(model)  # batch-invariant bfloat16 GEMMs (evalkit.models.row_blocks)
            if dtype == "auto":
                from evalkit.models.precision import describe_dtype

                notify(f"{Path(base_dir).name} computes in {describe_dtype(dtype)}", "note")
            self._bases[key] = LoadedBase(model=model, tokenizer=tok, base_dir=base_dir)
        return self._bases[key]

    def clear(self) -> None:
        """Drop every loaded model."""
        self._bases.clear()


DEFAULT_POOL = BasePool()
