"""Fixtures for the engine tests: random LoRA adapters on the tiny and the default model."""

from __future__ import annotations

from pathlib import Path

import pytest
from evalkit_testing import torch_threads
from speed_helpers import make_random_adapter


@pytest.fixture(scope="session")
def tiny_adapter_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """A random LoRA adapter for the tiny Llama (scaled to visibly change greedy outputs)."""
    return make_random_adapter(str(tiny_model_dir), tmp_path_factory.mktemp("tiny-lora"), scale=20.0)


@pytest.fixture(scope="session")
def default_adapter_dir(default_model_dir, tmp_path_factory) -> Path:
    """A small random LoRA adapter for the default model."""
    return make_random_adapter(str(default_model_dir), tmp_path_factory.mktemp("smol-lora"), scale=0.3)


@pytest.fixture()
def single_thread():
    """Run a test on one intra-op thread: tiny models gain nothing from more, and lose a lot on a busy box."""
    with torch_threads(1):
        yield


@pytest.fixture()
def threads_for_load():
    """Default torch threads, or one when other jobs already keep every core busy.

    Two intra-op threads on an oversubscribed machine spend most of their time
    waiting for each other at every op (4x the CPU time here), which would turn
    a one-minute test into ten; results are the same either way.
    """
    import os

    with torch_threads(1 if os.getloadavg()[0] >= (os.cpu_count() or 1) else None):
        yield
