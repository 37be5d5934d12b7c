"""Judge test fixtures: a fake key + isolated home, the loopback Messages server, transformers serve."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from loopback_messages import MessagesServer
from serve_fixture import TransformersServe

import evalkit.judge  # noqa: F401 - registers judge_rubric / judge_reference


@pytest.fixture()
def fake_key(isolated_home, monkeypatch) -> str:
    """A planted, unique fake ANTHROPIC_API_KEY (and a fresh EVALKIT_HOME)."""
    key = f"sk-ant-fake-{uuid.uuid4().hex}"
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    return key


@pytest.fixture()
def messages_server():
    """A fresh scripted Messages API server on loopback."""
    with MessagesServer() as server:
        yield server


@pytest.fixture(scope="session")
def transformers_server(default_model_dir: Path, tmp_path_factory):
    """`transformers serve` with the default model on a free loopback port, for the whole session."""
    log = tmp_path_factory.mktemp("transformers-serve") / "serve.log"
    with TransformersServe(default_model_dir, log, startup_timeout=180) as server:
        yield server
