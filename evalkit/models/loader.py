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
        return Arm(spec, OpenAIBackend(spec), combine(parts), parts)
    from evalkit.models.hf_backend import HFBackend

    base_dir = resolve_base(spec.base)
    weights = weights_fingerprint(base_dir)
    if spec.adapter:  # refuse an adapter trained on another base now, before any weights load
        from evalkit.models.hf_loading import check_adapter_base

        check_adapter_base(spec.adapter, weights, spec.base, spec.allow_base_mismatch)
    parts = fingerprint_parts(spec, base_dir, weights)
    backend = HFBackend(spec, base_dir, weights, pool=pool)
    return Arm(spec, backend, combine(parts), parts)
