"""Credentials in URLs and short API keys never reach a file or the terminal.

A ``base_url`` of ``http://user:KEY@host`` (and a judge URL with ``?key=``)
used to be written into run.json, metrics.json, comparison.json and
index.html. A key shorter than 8 characters echoed by the server was not
masked at all.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from relkit import FakeServer, invoke, write_jsonl, write_yaml

from evalkit.redact import mask_secret, redact_text, redact_url


def _files_with(root: Path, needle: str) -> list[str]:
    return [str(p) for p in sorted(root.rglob("*")) if p.is_file() and needle.encode() in p.read_bytes()]


def _suite(tmp_path: Path, judge_url: str | None = None) -> Path:
    write_jsonl(tmp_path / "suite" / "data.jsonl",
                [{"id": f"q{i}", "input": f"Say q{i}", "target": f"q{i}"} for i in range(4)])
    scorers: list[dict] = [{"name": "exact_match"}]
    if judge_url:
        judge = {"backend": "openai-compatible", "model": "j", "base_url": judge_url, "rubric": "Right?",
                 "scale": [1, 5], "max_retries": 0}
        scorers.append({"name": "judge_rubric", "id": "judge", "options": judge})
    write_yaml(tmp_path / "suite" / "suite.yaml", {"name": "s", "data": "data.jsonl", "scorers": scorers})
    return tmp_path / "suite"


def test_credentials_in_base_url_are_never_recorded(tmp_path, isolated_home):
    user_key, query_key = f"uk{secrets.token_hex(8)}", f"qk{secrets.token_hex(8)}"
    server = FakeServer(chat=lambda body: (200, body["messages"][-1]["content"].split()[-1]))
    host = server.url.removeprefix("http://")
    try:
        url = f"http://user:{user_key}@{host}"
        suite = _suite(tmp_path, judge_url=f"http://{host}/v1?key={query_key}")
        spec = {"backend": "openai", "base_url": url}
        one = write_yaml(tmp_path / "one.yaml", {"name": "one", "model": "a", **spec})
        two = write_yaml(tmp_path / "two.yaml", {"name": "two", "model": "b", **spec})
        code, output = invoke("compare", one, two, "-s", suite, "--out", tmp_path / "cmp",
                              "--summary", tmp_path / "summary.md", "--junit", tmp_path / "junit.xml")
    finally:
        server.close()
    assert code == 0, output
    assert server.seen, "the server was really used"
    for key in (user_key, query_key):
        assert key not in output
        assert not _files_with(tmp_path / "cmp", key), _files_with(tmp_path / "cmp", key)
        assert not _files_with(isolated_home, key)
        assert all(p.endswith(".yaml") for p in _files_with(tmp_path, key))  # only the user's own specs
    comparison = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert comparison["arms"][0]["spec"]["base_url"] == f"http://***@{host}"  # still says where it ran
    assert "***@" in (tmp_path / "cmp" / "index.html").read_text()


def test_credentials_in_an_error_message_are_redacted(tmp_path, isolated_home):
    key = f"qk{secrets.token_hex(8)}"
    server = FakeServer(chat=lambda body: (401, "invalid credentials"))
    host = server.url.removeprefix("http://")
    try:
        spec = write_yaml(tmp_path / "m.yaml", {"name": "m", "backend": "openai", "model": "a",
                                                "base_url": f"http://admin:{key}@{host}"})
        code, output = invoke("run", spec, "-s", _suite(tmp_path), "--out", tmp_path / "o", "--no-cache")
    finally:
        server.close()
    assert code == 2, output
    flat = " ".join(output.split())
    assert key not in output and f"the server at http://***@{host} (model a) refused the credentials" in flat
    assert not _files_with(tmp_path / "o", key)


def test_short_key_echoed_by_the_server_is_masked_as_a_token(tmp_path, isolated_home, monkeypatch):
    monkeypatch.setenv("EVALKIT_SHORT_KEY", "k3y")
    server = FakeServer(chat=lambda body: (200, "your key is k3y; a k3yboard and k3ys stay"))
    try:
        spec = write_yaml(tmp_path / "m.yaml", {"name": "m", "backend": "openai", "model": "a",
                                                "base_url": server.url, "api_key_env": "EVALKIT_SHORT_KEY"})
        code, output = invoke("run", spec, "-s", _suite(tmp_path), "--out", tmp_path / "o")
    finally:
        server.close()
    assert code == 0, output  # wrong answers are scored (0), not failures
    [gens] = list((tmp_path / "o").rglob("generations.jsonl"))
    texts = {json.loads(line)["text"] for line in gens.read_text().splitlines()}
    assert texts == {"your key is ***; a k3yboard and k3ys stay"}
    assert server.seen[0].headers["authorization"] == "Bearer k3y"


def test_redaction_functions():
    assert redact_url("https://u:p4ss@h.example/v1?api-key=K&x=1") == "https://***@h.example/v1?api-key=***&x=1"
    assert redact_url("https://h/v1?token=T&Key=K2") == "https://h/v1?token=***&Key=***"
    assert redact_url("http://localhost:8000/v1") == "http://localhost:8000/v1"  # unchanged when clean
    assert redact_text("failed: https://h/?access_token=zz.") == "failed: https://h/?access_token=***."
    assert mask_secret("abc abcdef abc.", "abc") == "*** abcdef ***."
    assert mask_secret("xxLONGSECRET1xx", "LONGSECRET1") == "xx***xx"  # long keys: anywhere


def test_one_redactor_for_server_messages_masks_the_key_and_url_credentials():
    from evalkit.redact import redact_secrets

    message = "HTTP 401 from https://u:pw@h.example/v1?token=T: bad key sk-live-123456789"
    assert redact_secrets(message, "sk-live-123456789") == (
        "HTTP 401 from https://***@h.example/v1?token=***: bad key ***"
    )
    assert redact_secrets(message, "sk-live-123456789", "[redacted]").endswith("bad key [redacted]")
    assert redact_secrets("", "k") == "" and redact_secrets("plain", None) == "plain"
