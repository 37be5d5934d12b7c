"""API keys come from the environment only and never reach run files, reports, caches, logs or messages.

Two planted keys: ``ANTHROPIC_API_KEY`` (used by a judge_rubric scorer on the
anthropic backend, pointed at a loopback Messages API) and an OpenAI-style key
in a custom variable named by a model spec's ``api_key_env`` (backend openai,
pointed at a loopback ``/v1/chat/completions``). The servers even echo the keys
back in replies and error bodies, as real ones do in "invalid key sk-..." errors.
Then every file under the test folder (run dirs, report, comparison.json,
JUnit, summary, history, EVALKIT_HOME with its SQLite caches) and all CLI
output and log records are scanned for the keys and for their random tails.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest
from relkit import FakeServer, invoke, write_jsonl, write_yaml

KEY_ENV = "EVALKIT_RELIABILITY_OPENAI_KEY"


@pytest.fixture()
def keys(monkeypatch):
    tail_a, tail_o = secrets.token_hex(12), secrets.token_hex(12)
    anthropic = f"sk-ant-PLANTED-{tail_a}"
    openai = f"sk-PLANTED-openai-{tail_o}"
    monkeypatch.setenv("ANTHROPIC_API_KEY", anthropic)
    monkeypatch.setenv(KEY_ENV, openai)
    return {"anthropic": anthropic, "openai": openai, "tails": [tail_a, tail_o]}


@pytest.fixture()
def logs():
    """Every log record (any logger, DEBUG and up) emitted during the test, formatted."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Keep(level=logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield records
    root.removeHandler(handler)
    root.setLevel(previous)


def _setup(tmp_path: Path, server: FakeServer) -> dict:
    rows = [{"id": f"q{i}", "input": f"Say q{i}", "target": f"q{i}"} for i in range(6)]
    write_jsonl(tmp_path / "suite" / "data.jsonl", rows)
    judge = {
        "backend": "anthropic",
        "model": "claude-test",
        "base_url": server.url,
        "rubric": "Is the reply correct?",
        "scale": [1, 5],
        "max_retries": 0,
    }
    write_yaml(
        tmp_path / "suite" / "suite.yaml",
        {
            "name": "secret",
            "kind": "regression",
            "data": "data.jsonl",
            "scorers": [{"name": "exact_match"}, {"name": "judge_rubric", "id": "judge", "options": judge}],
        },
    )
    spec = {"backend": "openai", "base_url": server.url, "api_key_env": KEY_ENV}
    return {
        "suite": tmp_path / "suite",
        "one": write_yaml(tmp_path / "one.yaml", {"name": "one", "model": "m1", **spec}),
        "two": write_yaml(tmp_path / "two.yaml", {"name": "two", "model": "m2", **spec}),
        "gate": write_yaml(tmp_path / "gate.yaml", {"suites": {"secret": {"min_score": 0.0}}}),
    }


def _scan(root: Path, needles: list[str]) -> list[str]:
    """Files under ``root`` holding any needle (as UTF-8 or UTF-16, as SQLite may store text)."""
    forms = [n.encode(enc) for n in needles for enc in ("utf-8", "utf-16-le")]
    hits = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{path}: {form!r}" for form in forms if form in data]
    return hits


def test_keys_never_written_anywhere(keys, logs, tmp_path, isolated_home):
    server = FakeServer(
        chat=lambda body: (200, body["messages"][-1]["content"].split()[-1]),
        messages=lambda body: (200, f'{{"score": 4, "reason": "fine; your key {keys["anthropic"]} works"}}'),
    )
    try:
        files = _setup(tmp_path, server)
        outputs = []
        code, output = invoke("run", files["one"], "-s", files["suite"], "--out", tmp_path / "runs")
        outputs.append(output)
        assert code == 0, output
        code, output = invoke(
            "compare",
            files["one"],
            files["two"],
            "-s",
            files["suite"],
            "--out",
            tmp_path / "cmp",
            "--gate",
            files["gate"],
            "--junit",
            tmp_path / "junit.xml",
            "--summary",
            tmp_path / "summary.md",
            "--history",
            tmp_path / "history.jsonl",
        )
        outputs.append(output)
        assert code == 0, output
        code, output = invoke(
            "baseline",
            "save",
            tmp_path / "cmp",
            "--name",
            "bl",
            "--arm",
            "one",
            "--directory",
            tmp_path / "baselines",
        )
        outputs.append(output)
        assert code == 0, output
        code, output = invoke(
            "compare",
            files["two"],
            "-s",
            files["suite"],
            "--out",
            tmp_path / "vs",
            "--against",
            tmp_path / "baselines" / "bl.json",
            "--allow-mismatch",
        )
        outputs.append(output)
        assert code == 0, output
    finally:
        server.close()

    # The keys were really used, in headers only (so the scan below can fail for real).
    chat = [s for s in server.seen if s.path.endswith("/chat/completions")]
    judged = [s for s in server.seen if s.path.endswith("/messages")]
    assert chat and judged
    assert all(s.headers.get("authorization") == f"Bearer {keys['openai']}" for s in chat)
    sent = [(s.headers.get("x-api-key"), s.headers.get("authorization")) for s in judged]
    assert all(keys["anthropic"] in (key, (auth or "").removeprefix("Bearer ")) for key, auth in sent), sent
    assert not any(keys["openai"] in str(s.body) or keys["anthropic"] in str(s.body) for s in server.seen)
    assert (tmp_path / "cmp" / "index.html").is_file() and (tmp_path / "junit.xml").is_file()
    assert (isolated_home / "cache.sqlite").is_file() and (isolated_home / "judge_cache.sqlite").is_file()

    needles = [keys["anthropic"], keys["openai"], *keys["tails"]]
    assert _scan(tmp_path, needles) == []
    text = "\n".join(outputs + logs)
    assert not [n for n in needles if n in text]


def test_keys_scrubbed_from_error_messages(keys, logs, tmp_path, isolated_home):
    """Servers that echo the key in error bodies: per-sample errors, judge errors and fatal messages."""
    from evalkit.runner.store import read_jsonl_tolerant

    def chat(body):
        sid = body["messages"][-1]["content"].split()[-1]
        if sid == "q1":  # a per-sample failure whose body quotes the key
            return 400, f"bad request for key {keys['openai']}"
        return 200, f"{sid} (served for {keys['openai']})"

    server = FakeServer(chat=chat, messages=lambda body: (401, f"invalid x-api-key {keys['anthropic']}"))
    outputs = []
    try:
        files = _setup(tmp_path, server)
        code, output = invoke("run", files["one"], "-s", files["suite"], "--out", tmp_path / "runs")
        outputs.append(output)
        assert code == 0, output
        server.chat = lambda body: (401, f"Incorrect API key provided: {keys['openai']}")
        code, output = invoke(
            "run", files["two"], "-s", files["suite"], "--out", tmp_path / "runs2", "--no-cache"
        )
        outputs.append(output)
    finally:
        server.close()
    assert code == 2 and "refused the credentials" in output and "Traceback" not in output, output

    [gens] = list((tmp_path / "runs").rglob("generations.jsonl"))
    rows = read_jsonl_tolerant(gens)
    errors = [r["error"] for r in rows if r["error"]]
    assert errors and all("***" in e for e in errors)  # the reason is kept, the key is masked
    assert all(r["text"].endswith("(served for ***)") for r in rows if not r["error"])  # echoed in output
    [scores] = list((tmp_path / "runs").rglob("scores.jsonl"))
    judge_errors = [r["error"] for r in read_jsonl_tolerant(scores) if r["scorer"] == "judge" and r["error"]]
    judge_errors = [e for e in judge_errors if e.startswith("judge error")]
    assert judge_errors and all("HTTP 401" in e and "[redacted]" in e for e in judge_errors)

    needles = [keys["anthropic"], keys["openai"], *keys["tails"]]
    assert _scan(tmp_path, needles) == []
    text = "\n".join(outputs + logs)
    assert not [n for n in needles if n in text]
