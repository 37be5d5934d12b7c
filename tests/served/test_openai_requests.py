"""What the served backend sends and refuses: payloads, concurrency, keys, capability checks, logprobs."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from fake_openai import Reply, healthy_reply

from evalkit.errors import ConfigError, EvalkitError, ModelError
from evalkit.models import http_retry
from evalkit.models.openai_backend import OpenAIBackend, continuation_logprob, rules_for
from evalkit.models.spec import GenerationConfig, ModelSpec


def _backend(base_url: str, **extra) -> OpenAIBackend:
    return OpenAIBackend(ModelSpec(backend="openai", base_url=base_url, model="m", **extra))


def test_chat_payload_maps_generation_config(fake_server):
    backend = _backend(fake_server.base_url + "/v1/", system_prompt="Be brief.")
    prompt = backend.render("Say hi")
    assert json.loads(prompt) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hi"},
    ]
    config = GenerationConfig(max_new_tokens=7, temperature=0.7, top_p=0.9, seed=3, stop=["\n", "END"])
    [gen] = backend.generate([("a", prompt)], config)
    [request] = fake_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.body == {
        "model": "m",
        "messages": json.loads(prompt),
        "max_tokens": 7,
        "temperature": 0.7,
        "top_p": 0.9,
        "seed": 3,
        "stop": ["\n", "END"],
    }
    assert gen.text == "Sure: Say hi" and gen.prompt_tokens == 2 and gen.new_tokens == 3
    assert gen.latency_s > 0 and gen.error is None


def test_plain_text_goes_to_completions_and_is_cut_at_stop(fake_server):
    backend = _backend(fake_server.base_url, chat_template="none", system_prompt="Sys")
    prompt = backend.render("Say x. More")
    assert prompt == "Sys\n\nSay x. More"
    [gen] = backend.generate([("a", prompt)], GenerationConfig(max_new_tokens=5, stop=["."]))
    assert fake_server.requests[0].path == "/v1/completions"
    assert fake_server.requests[0].body == {"model": "m", "prompt": prompt, "max_tokens": 5,
                                            "temperature": 0.0, "stop": ["."]}
    assert gen.text == "Sure: Sys\n\nSay x", "text after the stop string is cut, as the HF backend does"


def test_missing_completions_endpoint_is_a_clear_error(fake_server):
    fake_server.behaviour = lambda request: Reply(404, {"detail": "Not Found"})
    backend = _backend(fake_server.base_url, chat_template="none")
    with pytest.raises(ModelError, match="this server has no /v1/completions; use chat_template: auto"):
        backend.generate([("a", "hi")], GenerationConfig())


def test_unknown_model_404_names_the_model(fake_server):
    fake_server.behaviour = lambda request: Reply(404, {"message": "The model `m` does not exist."})
    with pytest.raises(ModelError, match="does not serve that model"):
        _backend(fake_server.base_url).generate([("a", "[]")], GenerationConfig())


def test_concurrency_is_bounded(fake_server):
    fake_server.behaviour = lambda request: replace(healthy_reply(request), delay=0.15)
    backend = _backend(fake_server.base_url, max_concurrency=3)
    seen = []
    prompts = [(f"s{i}", backend.render(f"Say w{i}")) for i in range(9)]
    gens = backend.generate(prompts, GenerationConfig(), on_batch=seen.extend)
    assert [g.sample_id for g in gens] == [f"s{i}" for i in range(9)], "results come back in input order"
    assert sorted(g.sample_id for g in seen) == sorted(g.sample_id for g in gens)
    assert 2 <= fake_server.max_in_flight <= 3


def test_api_key_from_env_only_and_never_in_errors(fake_server, monkeypatch, tmp_path):
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("SERVED_KEY", secret)
    fake_server.behaviour = lambda request: Reply(400, {"error": f"bad: {request.headers['Authorization']}"})
    backend = _backend(fake_server.base_url, api_key_env="SERVED_KEY")
    [gen] = backend.generate([("a", backend.render("x"))], GenerationConfig())
    assert fake_server.requests[0].headers["Authorization"] == f"Bearer {secret}"
    assert "HTTP 400" in gen.error and "Bearer ***" in gen.error and secret not in gen.error

    fake_server.behaviour = lambda request: Reply(401, {"error": f"invalid key {secret}"})
    with pytest.raises(ModelError, match=r"refused the credentials .* sent \$SERVED_KEY") as caught:
        backend.generate([("a", backend.render("x"))], GenerationConfig())
    assert secret not in str(caught.value)

    monkeypatch.delenv("SERVED_KEY")
    with pytest.raises(ConfigError, match=r"\$SERVED_KEY, which is not set"):
        backend.generate([("a", backend.render("x"))], GenerationConfig())


def test_server_rules_table_refuses_what_openai_cannot_honour():
    assert rules_for("https://api.openai.com/v1").max_stop == 4
    assert rules_for("https://myres.openai.azure.com").name == "Azure OpenAI"
    assert rules_for("http://127.0.0.1:8000").max_stop is None
    backend = _backend("https://api.openai.com/v1")
    with pytest.raises(ConfigError, match="5 stop strings given, OpenAI accepts at most 4"):
        backend.generate([("a", "[]")], GenerationConfig(stop=list("abcde")))
    nameless = OpenAIBackend(ModelSpec(backend="openai", base_url="https://api.openai.com"))
    with pytest.raises(ConfigError, match="needs the model name"):
        nameless.generate([("a", "[]")], GenerationConfig())
    with pytest.raises(ConfigError, match="cannot be used with backend: openai"):
        OpenAIBackend(ModelSpec(backend="openai", base_url="http://x", chat_template="/tmp/t.jinja"))


def test_openai_proper_uses_max_completion_tokens():
    backend = _backend("https://api.openai.com")
    body = backend._payload(backend.render("hi"), GenerationConfig(max_new_tokens=9))
    assert body["max_completion_tokens"] == 9 and "max_tokens" not in body


def test_retry_after_forms():
    import httpx

    assert http_retry.retry_after_seconds(httpx.Response(429, headers={"retry-after": "2"})) == 2.0
    assert http_retry.retry_after_seconds(httpx.Response(429, headers={"retry-after-ms": "250"})) == 0.25
    dated = httpx.Response(429, headers={"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert http_retry.retry_after_seconds(dated) == 0.0, "a date already past means no wait"
    assert http_retry.retry_after_seconds(httpx.Response(429, headers={"retry-after": "soon"})) is None
    assert [s for s in (400, 404, 408, 409, 422, 425, 429, 500, 529) if http_retry.is_retryable(s)] == [
        408, 409, 425, 429, 500, 529
    ]
    policy = http_retry.RetryPolicy(base_delay=1.0, max_delay=4.0, max_retry_after=10.0)
    assert 0.5 <= policy.backoff(1) <= 1.0 and 2.0 <= policy.backoff(3) <= 4.0
    assert 2.0 <= policy.backoff(9) <= 4.0, "capped at max_delay"
    assert policy.backoff(1, retry_after=30.0) == 10.0


def _echo_logprobs(request):
    """A vLLM-style echo answer for "The capital is Paris" with prompt logprobs."""
    tokens = ["The", " capital", " is", " Paris"]
    return Reply(body={"choices": [{"text": request.body["prompt"], "logprobs": {
        "tokens": tokens,
        "token_logprobs": [None, -2.0, -0.5, -0.25],
        "top_logprobs": [None, {" capital": -2.0, " city": -1.0}, {" is": -0.5}, {" Paris": -0.25}],
        "text_offset": [0, 3, 11, 14],
    }}]})


def test_loglikelihood_from_echoed_prompt_logprobs(fake_server):
    fake_server.behaviour = _echo_logprobs
    backend = _backend(fake_server.base_url)
    results = backend.loglikelihood([("The capital is", " Paris"), ("The", " capital is Paris")])
    assert results == [(-0.25, True), (-2.75, False)]
    body = fake_server.requests[0].body
    assert fake_server.requests[0].path == "/v1/completions"
    assert body["echo"] is True and body["logprobs"] == 1 and body["max_tokens"] == 0
    logprobs = _echo_logprobs(fake_server.requests[0]).body["choices"][0]["logprobs"]
    straddling = continuation_logprob(logprobs, len("The capital i"), len("The capital is Paris"))
    assert straddling == (-0.75, True), "a token straddling the boundary counts as continuation"


def test_loglikelihood_falls_back_to_one_token_when_zero_is_refused(fake_server):
    def behaviour(request):
        if request.body["max_tokens"] == 0:
            return Reply(400, {"message": "max_tokens must be at least 1"})
        reply = _echo_logprobs(request)  # plus the one generated token, which must be ignored
        logprobs = reply.body["choices"][0]["logprobs"]
        for key, value in (("tokens", "."), ("token_logprobs", -9.0), ("top_logprobs", {".": -9.0}),
                           ("text_offset", 20)):
            logprobs[key].append(value)
        return reply

    fake_server.behaviour = behaviour
    assert _backend(fake_server.base_url).loglikelihood([("The capital is", " Paris")]) == [(-0.25, True)]
    assert [r.body["max_tokens"] for r in fake_server.requests] == [0, 1]


def test_loglikelihood_without_logprobs_says_use_hf(fake_server):
    backend = _backend(fake_server.base_url)
    with pytest.raises(EvalkitError, match="needs log-probabilities, which the server at .* does not return"):
        backend.loglikelihood([("The capital is", " Paris")])
    fake_server.behaviour = lambda request: Reply(500, "Internal Server Error")
    with pytest.raises(EvalkitError, match=r"does not return \(HTTP 500.*run it with the HF backend"):
        backend.loglikelihood([("The capital is", " Paris")])
