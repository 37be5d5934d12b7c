"""``backend: auto``: run an arm on in-process vLLM where it can, else on the HF engine, and say why."""

from __future__ import annotations

import json
from pathlib import Path

from evalkit.models.spec import ModelSpec
from evalkit.models.vllm_engine import vllm_import_problem, vllm_version

#: LoRA settings vLLM does not apply: an adapter using them runs on the HF engine under ``auto``.
UNSUPPORTED_LORA_KEYS = ("modules_to_save", "use_dora")


def choose_engine(spec: ModelSpec, base_dir: str) -> tuple[str, str]:
    """(``"vllm"`` or ``"hf"``, the reason) for an ``auto`` arm."""
    problem = vllm_import_problem()
    if problem:
        return "hf", f"vLLM is not usable here ({problem})"
    if spec.quantization != "none":
        return "hf", f"quantization: {spec.quantization} runs on the HF engine only"
    architecture = _unsupported_architecture(base_dir)
    if architecture:
        return "hf", f"vLLM does not support the architecture {architecture}"
    adapter_problem = _adapter_problem(spec.adapter)
    if adapter_problem:
        return "hf", adapter_problem
    return "vllm", f"{vllm_version() or 'vLLM'} is installed and supports the model" + (
        " and adapter" if spec.adapter else "")


def engine_record(spec: ModelSpec, used: str, reason: str | None = None, dtype: str | None = None) -> dict:
    """What run.json records about the engine: what the spec asked for, what ran, why, and in which dtype."""
    record = {"requested": spec.backend, "used": used}
    if used == "vllm":
        record["version"] = vllm_version()
    if reason:
        record["reason"] = reason
    if dtype:
        record["dtype"] = dtype
    return record


def _unsupported_architecture(base_dir: str) -> str | None:
    try:
        config = json.loads((Path(base_dir) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # vLLM's own error names the problem when it loads
    from vllm import ModelRegistry

    supported = set(ModelRegistry.get_supported_archs())
    unknown = [a for a in config.get("architectures") or [] if a not in supported]
    return ", ".join(unknown) or None


def _adapter_problem(adapter: str | None) -> str | None:
    if not adapter:
        return None
    try:
        config = json.loads((Path(adapter) / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # the adapter checks at load time report it
    if str(config.get("peft_type", "LORA")).upper() != "LORA":
        return f"the adapter is {config.get('peft_type')}, not LoRA, so it runs on the HF engine"
    used = [k for k in UNSUPPORTED_LORA_KEYS if config.get(k)]
    if used:
        return f"the adapter sets {', '.join(used)}, which vLLM does not apply, so it runs on the HF engine"
    return None


def engine_notice(arm) -> str | None:
    """The line that says which engine an ``auto`` arm runs on and why (None for other arms)."""
    engine = getattr(arm, "engine", None) or {}
    if engine.get("requested") != "auto":
        return None
    return f"{arm.name}: backend auto runs on {engine['used']}: {engine.get('reason', '')}"
