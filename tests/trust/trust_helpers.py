"""Helpers of the trust tests (a module, not the conftest: folders' conftest names clash)."""

from __future__ import annotations

from pathlib import Path

import yaml


def write_yaml(path: Path, doc: dict) -> Path:
    """Write a YAML file (creating its folder); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def untrained_lora(base_dir: Path, out: Path) -> Path:
    """PEFT's default LoRA initialisation (lora_B = 0): an adapter that changes nothing."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    get_peft_model(
        model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"])
    ).save_pretrained(out)
    return out
