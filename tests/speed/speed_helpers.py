"""Helpers for the engine tests: random LoRA adapters, support-triage prompts, an HF greedy reference."""

from __future__ import annotations

import json
from pathlib import Path

from evalkit_testing import make_random_lora

TRIAGE = Path(__file__).resolve().parents[2] / "suites" / "support-triage"


def make_random_adapter(base_dir: str, folder: Path, seed: int = 0, scale: float = 0.05) -> Path:
    """Save a rank-4 LoRA adapter with small random weights (so it changes outputs without wrecking them)."""
    return make_random_lora(base_dir, folder, seed=seed, rank=4, alpha=8, scale=scale)


def triage_inputs(count: int) -> list[str]:
    """The first ``count`` support-triage messages inside the suite's prompt template."""
    import yaml

    template = yaml.safe_load((TRIAGE / "suite.yaml").read_text())["prompt_template"]
    lines = (TRIAGE / "test.jsonl").read_text(encoding="utf-8").splitlines()[:count]
    return [template.replace("{input}", json.loads(line)["input"]) for line in lines]


def hf_reference(backend, prompts: list[tuple[str, str]], config) -> list[str]:
    """Plain unbatched greedy decoding with Hugging Face ``generate``, one prompt at a time."""
    return [g.text for g in backend._generate_hf(backend.loaded(), prompts, config, 1, None)]


def hf_reference_selected(backend, prompts, config) -> list[str]:
    """:func:`hf_reference` with the backend's adapter selected (or adapters disabled for the base)."""
    loaded = backend.loaded()
    with loaded.lock, loaded.select(backend.spec.adapter):
        return hf_reference(backend, prompts, config)
