"""Repeated draws against a served model: one request per (sample, draw), each with its draw's seed."""

from __future__ import annotations

from fake_openai import Reply

from evalkit.api import open_cache
from evalkit.models.draws import draw_seed
from evalkit.models.loader import load_model
from evalkit.models.spec import GenerationConfig, ModelSpec
from evalkit.runner.run import run_suite
from evalkit.runner.store import read_jsonl_tolerant
from evalkit.suite.loader import load_suite


def _seeded(request):
    """Answers with the request's seed, as a sampling server's output depends on it."""
    text = f"word{request.text[-1]} seed={request.body.get('seed')}"
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    return Reply(body={"id": "x", "choices": [choice], "usage": {"prompt_tokens": 2, "completion_tokens": 2}})


def test_each_draw_sends_its_own_seed_and_is_cached(fake_server, echo_suite, tmp_path, isolated_home):
    fake_server.behaviour = _seeded
    spec = ModelSpec(name="served", backend="openai", base_url=fake_server.base_url, model="m",
                     generation=GenerationConfig(temperature=0.7, seed=5, samples_per_item=3))
    suite = load_suite(str(echo_suite))
    first = run_suite(load_model(spec), suite, tmp_path / "a", cache=open_cache())
    assert first.generated == 24 and fake_server.count() == 24
    rows = read_jsonl_tolerant(tmp_path / "a" / "generations.jsonl")
    for row in rows:
        expected = draw_seed(5, row["sample_id"], row["draw"])
        assert row["text"] == f"word{row['sample_id'][1:]} seed={expected}"
    assert {r["text"] for r in rows if r["draw"] == 0} == {f"word{i} seed=5" for i in range(8)}
    assert first.metrics["metrics"]["contains"]["mean"] == 1.0

    second = run_suite(load_model(spec), suite, tmp_path / "b", cache=open_cache())
    assert second.cached == 24 and second.generated == 0 and fake_server.count() == 24
