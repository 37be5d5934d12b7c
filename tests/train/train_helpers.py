"""Helpers shared by the training tests: small chat data and spec files."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

LABELS = ("billing", "shipping", "technical", "refund")


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """Write rows as JSON lines (creating the folder); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def chat_rows(count: int) -> list[dict]:
    """Short chat rows whose answer is a one-key JSON object."""
    return [{"messages": [{"role": "user", "content": f"Classify: ticket {i} about my {LABELS[i % 4]}"},
                          {"role": "assistant", "content": json.dumps({"category": LABELS[i % 4]})}]}
            for i in range(count)]


def write_spec(folder: Path, doc: dict, name: str = "spec.yaml") -> Path:
    """Write a train spec YAML into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path
