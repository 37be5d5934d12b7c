"""Per-sample failures of a served model: recorded with a clear reason, excluded from metrics, resumable."""

from __future__ import annotations

import json

from fake_openai import FakeOpenAIServer, Reply
from serve_fixture import free_port

from evalkit.models.loader import load_model
from evalkit.models.spec import ModelSpec
from evalkit.runner.run import run_suite
from evalkit.suite.loader import load_suite

CHAT = "/v1/chat/completions"


def _spec(base_url: str, **extra) -> ModelSpec:
    return ModelSpec(name="served", backend="openai", base_url=base_url, model="m", **extra)


def _generations(out) -> dict[str, dict]:
    rows = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines() if line]
    return {r["sample_id"]: r for r in rows}


def _failing(request):
    """s1, s2: HTTP 500; s3: malformed JSON; s4: slower than the timeout; s5: no choices; the rest healthy."""
    word = request.text.split()[-1]
    return {
        "word1": Reply(500, "internal kaboom"),
        "word2": Reply(503, {"error": "overloaded"}),
        "word3": Reply(200, "<html>not json</html>"),
        "word4": Reply(delay=1.5),
        "word5": Reply(200, {"id": "x", "choices": []}),
    }.get(word)


def test_failures_are_recorded_excluded_and_resumed(fake_server, echo_suite, tmp_path):
    fake_server.behaviour = _failing
    suite = load_suite(str(echo_suite))
    out = tmp_path / "run"
    first = run_suite(load_model(_spec(fake_server.base_url, timeout=0.5)), suite, out, cache=None)

    gens = _generations(out)
    assert len(gens) == 8
    assert "HTTP 500: internal kaboom" in gens["s1"]["error"] and "2 attempts" in gens["s1"]["error"]
    assert "HTTP 503" in gens["s2"]["error"] and "overloaded" in gens["s2"]["error"]
    assert "malformed response: not JSON" in gens["s3"]["error"]
    assert "timed out after 0.5 s" in gens["s4"]["error"]
    assert "malformed response: no choices" in gens["s5"]["error"]
    assert all(gens[s]["text"] == "" for s in ("s1", "s2", "s3", "s4", "s5"))
    assert {gens[s]["error"] for s in ("s0", "s6", "s7")} == {None}
    assert fake_server.counts[CHAT] == 3 + 2 * 3 + 2  # healthy once; 500/503/timeout retried; bad JSON not

    contains = first.metrics["metrics"]["contains"]
    assert contains["n"] == 3 and contains["mean"] == 1.0
    assert contains["errors"] == 5 and contains["excluded_reason"].startswith("5 sample(s) excluded")
    assert first.metrics["generation"]["errors"] == 5

    fake_server.behaviour = lambda request: None
    fake_server.reset()
    second = run_suite(load_model(_spec(fake_server.base_url, timeout=0.5)), suite, out, cache=None)
    assert fake_server.counts[CHAT] == 5, "only the failed samples are requested again"
    assert sorted(r.text.split()[-1] for r in fake_server.requests) == [f"word{i}" for i in range(1, 6)]
    assert second.resumed == 3 and second.generated == 5
    assert second.metrics["metrics"]["contains"] == {**contains, "n": 8, "errors": 0, "excluded_reason": None}
    assert {g["error"] for g in _generations(out).values()} == {None}


def test_unreachable_server_then_resume(echo_suite, tmp_path):
    port = free_port()
    spec = _spec(f"http://127.0.0.1:{port}", timeout=2.0)
    suite = load_suite(str(echo_suite))
    out = tmp_path / "run"
    first = run_suite(load_model(spec), suite, out, cache=None)
    errors = {g["error"] for g in _generations(out).values()}
    assert errors == {f"cannot reach http://127.0.0.1:{port} (connection refused) (gave up after 2 attempts)"}
    assert first.metrics["metrics"]["contains"]["n"] == 0
    assert first.metrics["metrics"]["contains"]["errors"] == 8
    assert first.primary is None

    with FakeOpenAIServer(port=port) as server:
        second = run_suite(load_model(spec), suite, out, cache=None)
        assert server.counts[CHAT] == 8
    assert second.primary == 1.0


def test_429_honours_retry_after(fake_server, echo_suite, tmp_path):
    throttled = set()

    def behaviour(request):
        if request.text not in throttled:
            throttled.add(request.text)
            return Reply(429, {"error": "slow down"}, headers={"retry-after": "0.3"})
        return None

    fake_server.behaviour = behaviour
    suite = load_suite(str(echo_suite), limit=2)
    result = run_suite(load_model(_spec(fake_server.base_url)), suite, tmp_path / "run", cache=None)
    gens = _generations(tmp_path / "run")
    assert result.primary == 1.0 and fake_server.counts[CHAT] == 4
    assert all(g["latency_s"] >= 0.3 for g in gens.values()), "waited as long as retry-after asked"


def test_errored_samples_are_not_cached(fake_server, echo_suite, tmp_path, isolated_home):
    from evalkit.api import open_cache

    fake_server.behaviour = _failing
    suite = load_suite(str(echo_suite))
    spec = _spec(fake_server.base_url, timeout=0.5)
    run_suite(load_model(spec), suite, tmp_path / "a", cache=open_cache())
    fake_server.behaviour = lambda request: None
    fake_server.reset()
    other = run_suite(load_model(spec), suite, tmp_path / "b", cache=open_cache())
    assert other.cached == 3 and other.generated == 5 and fake_server.counts[CHAT] == 5
