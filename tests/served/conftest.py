"""Fixtures for the served-model tests: fast retries, a scripted fake server, a suite, transformers serve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from fake_openai import FakeOpenAIServer
from serve_fixture import TransformersServe

from evalkit.models import http_retry

FAST_RETRY = http_retry.RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05, max_retry_after=2.0)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    """Retry twice with ~10 ms backoff so failure tests run in well under a second each."""
    monkeypatch.setattr(http_retry, "DEFAULT_RETRY", FAST_RETRY)


@pytest.fixture()
def fake_server():
    """A healthy scripted OpenAI-compatible server; tests change ``behaviour`` to inject failures."""
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture()
def echo_suite(tmp_path) -> Path:
    """Eight samples ``Say wordN``; the fake server's healthy answer contains the target ``wordN``."""
    folder = tmp_path / "suites" / "echo"
    folder.mkdir(parents=True)
    rows = [{"id": f"s{i}", "input": f"Say word{i}", "target": [f"word{i}"]} for i in range(8)]
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    spec = {
        "name": "echo",
        "kind": "task",
        "data": "data.jsonl",
        "generation": {"max_new_tokens": 16},
        "scorers": [{"name": "contains"}],
    }
    (folder / "suite.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def served_model(default_model_dir: Path, tmp_path_factory):
    """Real ``transformers serve`` with the default model on a free loopback port, for the session."""
    log = tmp_path_factory.mktemp("served") / "serve.log"
    with TransformersServe(default_model_dir, log, startup_timeout=180) as server:
        yield server
