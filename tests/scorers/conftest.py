"""Shared helpers for the scorer tests: build a scorer by name and score one output."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evalkit.scorers.registry import build_scorer
from evalkit.types import Generation, Sample, Score


def score_one(
    name: str,
    text: str,
    target: Any = None,
    *,
    metadata: dict | None = None,
    suite_dir: Path | None = None,
    new_tokens: int = 0,
    input: Any = "prompt",
    **options: Any,
) -> Score:
    """Build scorer ``name`` with ``options`` and score ``text`` against ``target``."""
    fn = build_scorer(name, options, suite_dir=suite_dir)
    sample = Sample(id="s1", input=input, target=target, metadata=metadata or {})
    return fn(sample, Generation(sample_id="s1", text=text, new_tokens=new_tokens))


@pytest.fixture
def run() -> Callable[..., Score]:
    """The :func:`score_one` helper as a fixture."""
    return score_one


@pytest.fixture(scope="session", autouse=True)
def _evalkit_home(tmp_path_factory):
    """Keep files evalkit writes (the Punkt model for ifeval) out of the real home folder."""
    old = os.environ.get("EVALKIT_HOME")
    os.environ["EVALKIT_HOME"] = str(tmp_path_factory.mktemp("evalkit_home"))
    yield
    if old is None:
        os.environ.pop("EVALKIT_HOME", None)
    else:
        os.environ["EVALKIT_HOME"] = old
