"""Where an adapter comes from: its PEFT config, its evalkit card, its hash, and whether its base matches."""

from __future__ import annotations

import json
from pathlib import Path

from evalkit.models.fingerprint import adapter_fingerprint
from evalkit.models.hf_loading import read_adapter_card


def adapter_provenance(adapter_dir: str, loaded_weights: str | None) -> dict:
    """Base (PEFT config and evalkit card), sha256, rank, target modules and training data of an adapter.

    ``base_matches`` is True/False when the card records the base's weights
    fingerprint and the arm's loaded base is known, else None.
    """
    config_path = Path(adapter_dir) / "adapter_config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    except (ValueError, UnicodeDecodeError):
        config = {}
    card = read_adapter_card(adapter_dir) or {}
    data = card.get("data") or {}
    targets = config.get("target_modules")
    expected = card.get("base_fingerprint")
    return {
        "adapter": str(adapter_dir),
        "sha256": adapter_fingerprint(adapter_dir),
        "peft_type": config.get("peft_type"),
        "rank": config.get("r"),
        "alpha": config.get("lora_alpha"),
        "target_modules": sorted(targets) if isinstance(targets, list) else targets,
        "config_base": config.get("base_model_name_or_path"),
        "card": bool(card),
        "card_base": card.get("base"),
        "base_fingerprint": expected,
        "loaded_base_fingerprint": loaded_weights,
        "base_matches": None if not (expected and loaded_weights) else expected == loaded_weights,
        "train_step": card.get("step"),
        "train_data": {k: data.get(k) for k in ("source", "format", "sha256", "rows")} if data else None,
    }
