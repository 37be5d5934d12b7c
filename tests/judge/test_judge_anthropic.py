"""The anthropic backend through the real SDK against a loopback Messages API server."""

from __future__ import annotations

import itertools
import json

import pytest
from loopback_messages import Step, fixed, rubric_options, user_text

from evalkit.errors import SuiteSkipped
from evalkit.judge.usage import summarise_judge_usage
from evalkit.scorers.registry import build_scorer
from evalkit.types import Generation, Sample


def _batch(n: int, text: str = "Your parcel left our warehouse today; tracking is in your email."):
    samples = [Sample(id=f"s{i}", input=f"Where is order #{1000 + i}?") for i in range(n)]
    return samples, [Generation(sample_id=s.id, text=f"{text} ({s.id})") for s in samples]


def _judge(server, n: int = 1, **options):
    fn = build_scorer("judge_rubric", rubric_options(server, **options))
    samples, gens = _batch(n)
    return fn, fn.score_batch(samples, gens)


def test_scores_transcripts_and_usage_from_200s(fake_key, messages_server):
    fn, scores = _judge(messages_server, n=6)
    assert messages_server.count == 6
    assert [s.value for s in scores] == [8.0] * 6 and all(s.passed for s in scores)
    body = messages_server.requests[0]["body"]
    assert body["model"] == "claude-loopback" and body["temperature"] == 0.0 and body["max_tokens"] == 300
    assert "<response>" in user_text(body) and "strict, impartial grader" in body["system"]
    judge = scores[0].details["judge"]
    assert judge["reply"] == '{"score": 8, "reason": "polite and correct"}' and judge["score"] == 8
    assert judge["prompt"].startswith("[system]\n") and "Where is order #1000?" in judge["prompt"]
    assert judge["cached"] is False and judge["usage"]["calls"] == 1 and judge["usage"]["input_tokens"] > 100
    total = fn.usage_summary()
    assert total["calls"] == 6 and total["input_tokens"] == sum(
        s.details["judge"]["usage"]["input_tokens"] for s in scores)
    sent = [r["headers"].get("x-api-key") or r["headers"].get("authorization")
            for r in messages_server.requests]
    assert all(value in (fake_key, f"Bearer {fake_key}") for value in sent)


def test_429_retry_after_is_honoured(fake_key, messages_server):
    messages_server.script = [Step(status=429, headers={"retry-after": "1"})]
    fn, (score,) = _judge(messages_server, retry_base_delay=0.01)
    assert score.value == 8.0 and score.details["judge"]["usage"]["retries"] == 1
    first, second = messages_server.requests
    assert second["time"] - first["time"] >= 1.0


def test_retry_after_longer_than_allowed_is_an_error_not_a_hang(fake_key, messages_server):
    messages_server.script = [Step(status=429, headers={"retry-after": "120"})]
    _, (score,) = _judge(messages_server, retry_max_delay=2)
    assert score.value is None and "asked to wait 120s" in score.error and messages_server.count == 1


def test_500_then_success(fake_key, messages_server):
    messages_server.script = [Step(status=500), Step(status=529)]
    _, (score,) = _judge(messages_server)
    assert score.value == 8.0 and messages_server.count == 3


def test_timeout_is_retried_then_gives_up_as_judge_error(fake_key, messages_server):
    messages_server.script = [Step(delay=1.5)]
    _, (score,) = _judge(messages_server, timeout=0.5)
    assert score.value == 8.0 and messages_server.count == 2
    messages_server.script = [Step(delay=1.5), Step(delay=1.5)]
    _, (score,) = _judge(messages_server, timeout=0.5, max_retries=1, cache=False)
    assert score.value is None and score.error.startswith("judge error: timed out after 0.5s")
    assert "gave up after 2 attempts" in score.error


def test_malformed_http_body_is_a_judge_error(fake_key, messages_server):
    messages_server.script = [Step(raw=b'{"type": "message", "content": [')]
    _, (score,) = _judge(messages_server)
    assert score.value is None and score.passed is None
    assert score.error.startswith("judge error: malformed response") and messages_server.count == 1


@pytest.mark.parametrize("reply", ['{"score": 11, "reason": "x"}', "Score: 9/10", '{"score": 7}', ""])
def test_unparseable_or_out_of_scale_reply_is_an_error_never_zero(fake_key, messages_server, reply):
    messages_server.responder = fixed(reply)
    _, (score,) = _judge(messages_server)
    assert score.value is None and score.error.startswith("judge error: unparseable reply")
    assert score.details["judge"]["reply"] == reply and score.details["judge"]["score"] is None


def test_client_errors_are_not_retried(fake_key, messages_server):
    messages_server.script = [Step(status=404, error_message="model not found")]
    _, (score,) = _judge(messages_server)
    assert score.error == "judge error: HTTP 404: api_error: model not found" and messages_server.count == 1


def test_rejected_temperature_is_dropped_with_a_notice(fake_key, messages_server):
    messages_server.script = [Step(status=400, error_message="`temperature` is deprecated for this model.")]
    fn, scores = _judge(messages_server, n=3, max_concurrency=1)
    assert [s.value for s in scores] == [8.0] * 3
    sent = [r["body"].get("temperature") for r in messages_server.requests]
    assert sent == [0.0, None, None, None]
    assert "rejects 'temperature'" in fn.usage_summary()["notices"][0]
    rows = [{"scorer": "q", **s.__dict__} for s in scores]
    assert summarise_judge_usage(rows)["q"]["notices"] == fn.usage_summary()["notices"]


def test_call_budget_turns_extra_calls_into_errors(fake_key, messages_server):
    _, scores = _judge(messages_server, n=5, max_calls=2)
    assert messages_server.count == 2
    assert sorted(s.value is not None for s in scores) == [False, False, False, True, True]
    refused = [s for s in scores if s.value is None]
    assert all(s.error == "judge budget exhausted: max_calls 2 reached" and s.passed is None for s in refused)


def test_token_budget(fake_key, messages_server):
    # each call reserves ~430 tokens (prompt chars / 3 + max_tokens) and really uses ~256
    fn, scores = _judge(messages_server, n=4, max_total_tokens=700, max_tokens=100, max_concurrency=1)
    assert [s.value is not None for s in scores] == [True, True, False, False] and messages_server.count == 2
    assert all("judge budget exhausted: max_total_tokens 700" in s.error for s in scores[2:])
    assert fn.client.budget.tokens == sum(s.details["judge"]["usage"]["input_tokens"]
                                          + s.details["judge"]["usage"]["output_tokens"] for s in scores[:2])


def test_missing_key_skips_the_suite_at_build_time(isolated_home, monkeypatch, messages_server):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(SuiteSkipped, match="^judge not run: ANTHROPIC_API_KEY is not set$"):
        build_scorer("judge_rubric", rubric_options(messages_server))
    with pytest.raises(SuiteSkipped, match="JUDGE_TOKEN is not set"):
        build_scorer("judge_reference", {"backend": "openai-compatible", "model": "m",
                                         "api_key_env": "JUDGE_TOKEN", "base_url": messages_server.base_url})
    assert messages_server.count == 0


def test_self_agreement_and_cost(fake_key, messages_server):
    replies = itertools.cycle(['{"score": 8, "reason": "a"}', '{"score": 8, "reason": "b"}',
                               '{"score": 5, "reason": "c"}'])
    messages_server.responder = lambda body: next(replies)
    price = {"input_per_mtok": 3.0, "output_per_mtok": 15.0}
    _, (score,) = _judge(messages_server, samples=3, temperature=1.0, max_concurrency=1, price=price)
    judge = score.details["judge"]
    assert messages_server.count == 3 and score.value == pytest.approx(7.0)
    assert judge["agreement"] == pytest.approx(2 / 3) and len(judge["draws"]) == 3
    usage = judge["usage"]
    assert usage["cost_usd"] == pytest.approx(usage["input_tokens"] * 3e-6 + usage["output_tokens"] * 15e-6)


def test_judge_reference(fake_key, messages_server):
    messages_server.responder = lambda body: json.dumps(
        {"verdict": "correct" if "30 days" in user_text(body).split("<response>")[1] else "incorrect",
         "reason": "compared with the reference"})
    options = {k: v for k, v in rubric_options(messages_server).items()
               if k not in ("rubric", "scale", "pass_threshold")}
    fn = build_scorer("judge_reference", options)
    samples = [Sample(id="a", input="Return window?", target="30 days from delivery."),
               Sample(id="b", input="Return window?", target="30 days from delivery."),
               Sample(id="c", input="Return window?")]
    gens = [Generation("a", "You have 30 days."), Generation("b", "You have 14 days."), Generation("c", "x")]
    a, b, c = fn.score_batch(samples, gens)
    assert (a.value, a.passed, b.value, b.passed) == (1.0, True, 0.0, False)
    assert c.value is None and "no reference" in c.error and messages_server.count == 2
    sent = user_text(messages_server.requests[0]["body"])
    assert "<reference>\n30 days from delivery.\n</reference>" in sent
