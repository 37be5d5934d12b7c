"""Fixtures for the trust checks: the real default model's home, untrained and trained LoRAs on it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from evalkit_testing import torch_threads
from trust_helpers import write_yaml

TRAIN_ROWS = [
    {
        "messages": [
            {"role": "user", "content": f"Ticket {i}: my parcel number {1000 + i} has not arrived yet."},
            {"role": "assistant", "content": json.dumps({"category": "shipping"})},
        ]
    }
    for i in range(8)
]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One torch thread: the machine is shared and results do not depend on it."""
    with torch_threads(1):
        yield


@pytest.fixture()
def default_home(default_model_dir, monkeypatch) -> Path:
    """EVALKIT_HOME pointing at the persistent test home holding the embedded default model."""
    home = default_model_dir.parents[1]
    monkeypatch.setenv("EVALKIT_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def trained_adapter(default_model_dir, tmp_path_factory) -> Path:
    """A QLoRA adapter (nf4) trained 3 steps by `evalkit train` on the default model, with its card."""
    from evalkit.train.spec import load_train_spec
    from evalkit.train.trainer import train

    folder = tmp_path_factory.mktemp("trained")
    data = folder / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in TRAIN_ROWS), encoding="utf-8")
    spec = write_yaml(
        folder / "spec.yaml",
        {
            "name": "tuned",
            "base": "evalkit:smollm2-135m-instruct",
            "data": {"path": "train.jsonl"},
            "validation": None,
            "output_dir": str(folder / "adapter"),
            "training": {
                "max_steps": 3,
                "batch_size": 4,
                "lr": 3e-3,
                "warmup_ratio": 0.0,
                "max_length": 128,
                "logging_steps": 1,
            },
        },
    )
    previous = os.environ.get("EVALKIT_HOME")
    os.environ["EVALKIT_HOME"] = str(default_model_dir.parents[1])
    try:
        with torch_threads(1):
            result = train(load_train_spec(spec))
    finally:
        if previous is None:
            os.environ.pop("EVALKIT_HOME", None)
        else:
            os.environ["EVALKIT_HOME"] = previous
    return result.output_dir


@pytest.fixture()
def tiny_triage_suite(tmp_path) -> Path:
    """A 4-sample task suite (short generations) for comparisons on the real model."""
    rows = [
        {
            "id": f"t{i}",
            "input": f"Ticket {i}: where is my order {200 + i}?",
            "target": {"category": "shipping"},
        }
        for i in range(4)
    ]
    folder = tmp_path / "suites" / "tiny-triage"
    folder.mkdir(parents=True)
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    write_yaml(
        folder / "suite.yaml",
        {
            "name": "tiny-triage",
            "data": "data.jsonl",
            "generation": {"max_new_tokens": 12},
            "scorers": [{"name": "json_match", "options": {"fields": ["category"], "allow_fence": True}}],
        },
    )
    return folder
