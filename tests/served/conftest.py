"""Fixtures for the served-model tests: fast retries, a scripted fake server, a suite, transformers serve."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from evalkit_testing import torch_threads
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
    """Real ``transformers serve`` with the default model on a free loopback port, for the session.

    The server runs with one OpenMP thread: on a small, shared CPU two spinning
    threads per process make each request several times slower (measured: 2.7 s
    vs 11-19 s for 20 tokens with the machine busy). The parity tests pin the
    in-process HF side to one thread too, so both compute the same way.
    """
    log = tmp_path_factory.mktemp("served") / "serve.log"
    server = TransformersServe(default_model_dir, log, startup_timeout=180)
    previous = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"  # read by start() when it builds the server's environment
    try:
        server.start()
    finally:
        if previous is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = previous
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def one_torch_thread():
    """Run the in-process model on one thread for the test (restored afterwards)."""
    with torch_threads(1):
        yield
