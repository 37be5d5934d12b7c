"""Fixtures for the training tests: tiny-model train specs and the real model's home."""

from __future__ import annotations

from pathlib import Path

import pytest
from evalkit_testing import torch_threads
from train_helpers import chat_rows, write_jsonl, write_spec


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Train on one thread: on a shared 2-core CI machine, two busy-waiting threads per job are far slower."""
    with torch_threads(1):
        yield


@pytest.fixture()
def tiny_train_spec(tmp_path, tiny_model_dir, isolated_home):
    """A factory of train specs for the tiny random Llama (unquantized: its layers are too narrow for nf4)."""

    def make(training: dict | None = None, **fields) -> Path:
        write_jsonl(tmp_path / "data.jsonl", chat_rows(16))
        doc = {"base": str(tiny_model_dir), "data": {"path": "data.jsonl"}, "quantization": "none",
               "output_dir": str(tmp_path / "adapter"), "validation": None,
               "training": {"max_steps": 2, "batch_size": 4, "save_steps": 1, "logging_steps": 1, "lr": 5e-3,
                            **(training or {})}, **fields}
        return write_spec(tmp_path, doc)

    return make


@pytest.fixture()
def default_home(default_model_dir, monkeypatch) -> Path:
    """EVALKIT_HOME pointing at the persistent test home holding the embedded default model."""
    home = default_model_dir.parents[1]
    monkeypatch.setenv("EVALKIT_HOME", str(home))
    return home
