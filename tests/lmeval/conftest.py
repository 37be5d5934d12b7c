"""Fixtures for the lm-eval tests: tiny local lm-eval suites and a LoRA adapter factory."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from lmeval_support import GEN_ROWS, MC_ROWS, make_lora, write_task_suite  # noqa: E402


@pytest.fixture()
def mc_suite(tmp_path) -> Path:
    """A 6-question multiple-choice lm-eval suite."""
    return write_task_suite(tmp_path / "suites" / "tiny-mc", "tiny_mc", "multiple_choice", MC_ROWS)


@pytest.fixture()
def gen_suite(tmp_path) -> Path:
    """A 4-question generate_until lm-eval suite scored by exact match."""
    return write_task_suite(tmp_path / "suites" / "tiny-gen", "tiny_gen", "generate_until", GEN_ROWS)


@pytest.fixture()
def lora_factory():
    """``make_lora`` as a fixture, for tests that need an adapter."""
    return make_lora
