"""`load_model`: from a ModelSpec (or its YAML path) to a ready backend with a fingerprint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evalkit.models.backend import Backend
from evalkit.models.fingerprint import combine, fingerprint_parts
from evalkit.models.spec import ModelSpec, load_model_spec


@dataclass
class Arm:
    """A model arm ready to run: its spec, backend and fingerprint."""

    spec: ModelSpec
    backend: Backend
    fingerprint: str
    fingerprint_parts: dict
    # the engine that runs the arm: what the spec asked for, what runs and why (backend: auto)
    engine: dict | None = None

    @property
    def name(self) -> str:
        """Display name of the arm."""
        return self.spec.display_name


def load_model(spec: ModelSpec | str | Path, *, pool=None) -> Arm:
    """Resolve a model spec into an :class:`Arm`; model weights load lazily on first generation."""
    from evalkit.models.registry import resolve_base, weights_fingerprint

    if not isinstance(spec, ModelSpec):
        spec = load_model_spec(spec)
    if spec.backend == "openai":
        from evalkit.models.openai_backend import OpenAIBackend

        parts = fingerprint_parts(spec, "", "")
        engine = {"requested": "openai", "used": "openai"}
        return Arm(spec, OpenAIBackend(spec), combine(parts), parts, engine)
    base_dir = resolve_base(spec.base)
    weights = weights_fingerprint(base_dir)
    if spec.adapter:  # refuse an adapter trained on another base now, before any weights load
        from evalkit.models.hf_loading import check_adapter_base

        check_adapter_base(spec.adapter, weights, spec.base, spec.allow_base_mismatch)
    requested, reason = spec, None
    if spec.backend == "auto":
        from evalkit.models.engine_choice import choose_engine

        chosen, reason = choose_engine(spec, base_dir)
        spec = spec.model_copy(update={"backend": chosen})
    parts = fingerprint_parts(spec, base_dir, weights)
    engine = _engine_record(requested, spec.backend, reason, parts["dtype"])
    if spec.backend == "vllm":
        return Arm(spec, _vllm_backend(spec, base_dir), combine(parts), parts, engine)
    from evalkit.models.hf_backend import HFBackend

    backend = HFBackend(spec, base_dir, weights, pool=pool)
    return Arm(spec, backend, combine(parts), parts, engine)


def _engine_record(requested: ModelSpec, used: str, reason: str | None, dtype: str) -> dict:
    from evalkit.models.engine_choice import engine_record

    return engine_record(requested, used, reason, dtype)


def _vllm_backend(spec: ModelSpec, base_dir: str):
    """The arm's backend on the process's shared vLLM engine for its base (vLLM must be importable)."""
    from evalkit.errors import ConfigError
    from evalkit.models.vllm_backend import VLLMBackend
    from evalkit.models.vllm_engine import DEFAULT_VLLM_POOL, require_vllm

    if spec.quantization != "none":
        raise ConfigError(
            f"quantization: {spec.quantization} is for the HF engine; "
            "backend: vllm runs unquantized weights.",
            hint="set quantization: none, or backend: hf (or auto) for a quantized arm",
        )
    if spec.vllm.data_parallel_size > 1:  # vLLM itself refuses LLM(data_parallel_size > 1) in one process
        raise ConfigError(
            f"vllm.data_parallel_size: {spec.vllm.data_parallel_size} needs one vLLM process per replica; "
            "an in-process engine is one replica.",
            hint="serve the model with `vllm serve ... --data-parallel-size N` and use backend: openai "
            "with max_concurrency about N x --max-num-seqs (docs/scale.md)",
        )
    require_vllm()
    return VLLMBackend(spec, base_dir, DEFAULT_VLLM_POOL.engine(base_dir, spec.dtype, spec.vllm))
