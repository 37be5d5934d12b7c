"""Shared fixtures: a tiny random Llama for fast tests, isolated EVALKIT_HOME, suite builders."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tiny_model import build_tiny_llama  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Llama saved once per test session."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture()
def isolated_home(tmp_path, monkeypatch) -> Path:
    """A fresh, empty EVALKIT_HOME for the test."""
    home = tmp_path / "evalkit-home"
    monkeypatch.setenv("EVALKIT_HOME", str(home))
    return home


def write_suite(folder: Path, rows: list[dict], spec: dict) -> Path:
    """Write a suite folder with data.jsonl and suite.yaml; returns the folder."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "data.jsonl").open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    (folder / "suite.yaml").write_text(yaml.safe_dump({"data": "data.jsonl", **spec}), encoding="utf-8")
    return folder


@pytest.fixture()
def small_suite(tmp_path) -> Path:
    """A 12-sample exact-match suite."""
    rows = [
        {
            "id": f"q{i}",
            "input": f"What is {i} plus {i}?",
            "target": str(2 * i),
            "metadata": {"category": "math"},
        }
        for i in range(12)
    ]
    spec = {
        "name": "small",
        "kind": "task",
        "generation": {"max_new_tokens": 8},
        "scorers": [{"name": "exact_match"}, {"name": "length", "options": {"max": 5}}],
    }
    return write_suite(tmp_path / "suites" / "small", rows, spec)


IFEVAL_ROWS = [
    {"id": "lower", "input": "Answer in lowercase letters only: what is a cat?",
     "metadata": {"instruction_id_list": ["change_case:english_lowercase"], "kwargs": [{}]}},
    {"id": "words", "input": "Describe the sea in fewer than 40 words.",
     "metadata": {"instruction_id_list": ["length_constraints:number_words"],
                  "kwargs": [{"relation": "less than", "num_words": 40}]}},
    {"id": "letter", "input": "Write about rain; use the letter r at least twice.",
     "metadata": {"instruction_id_list": ["keywords:letter_frequency", "change_case:english_lowercase"],
                  "kwargs": [{"letter": "r", "let_frequency": 2, "let_relation": "at least"}, {}]}},
]


@pytest.fixture()
def ifeval_suite(tmp_path) -> Path:
    """A 3-sample native suite scored by ``ifeval`` (like ifeval-lite)."""
    spec = {"name": "tiny-ifeval", "kind": "general", "generation": {"max_new_tokens": 8},
            "scorers": [{"name": "ifeval"}], "metric": "ifeval"}
    return write_suite(tmp_path / "suites" / "tiny-ifeval", IFEVAL_ROWS, spec)


DEFAULT_TEST_HOME = "/tmp/evalkit-test-home"


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    """The embedded default model, pulled once into a persistent home shared across sessions.

    The home is ``$EVALKIT_TEST_HOME`` (default ``/tmp/evalkit-test-home``); the
    first session downloads and converts (about 25 s), later ones reuse it.
    """
    import os

    from evalkit.models.registry import pull_model

    home = os.environ.get("EVALKIT_TEST_HOME") or DEFAULT_TEST_HOME
    previous = os.environ.get("EVALKIT_HOME")
    os.environ["EVALKIT_HOME"] = home
    try:
        return pull_model("smollm2-135m-instruct")
    finally:
        if previous is None:
            os.environ.pop("EVALKIT_HOME", None)
        else:
            os.environ["EVALKIT_HOME"] = previous
