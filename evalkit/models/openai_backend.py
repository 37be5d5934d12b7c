"""The served-model backend: any OpenAI-compatible server (vLLM, transformers serve, OpenAI, ...).

Chat inputs go to ``POST {base_url}/v1/chat/completions`` as messages (the
spec's system prompt first); with ``chat_template: none`` plain text goes to
``/v1/completions``. Requests run ``max_concurrency`` at a time on a thread
pool sharing one ``httpx.Client``; each is retried on 408/429/5xx, timeouts and
connection errors (see :mod:`evalkit.models.http_retry`). A sample whose request
still fails becomes ``Generation(error=...)`` and the run goes on; problems that
would fail every sample (no such endpoint or model, rejected credentials,
settings the server cannot honour) raise instead.

The API key is read from the environment variable named by ``api_key_env`` and
only ever placed in the ``Authorization`` header.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import httpx

from evalkit.errors import ConfigError, EvalkitError, ModelError
from evalkit.models import http_retry
from evalkit.models.backend import BatchCallback
from evalkit.models.prompting import as_messages, render_prompt
from evalkit.models.spec import GenerationConfig, ModelSpec
from evalkit.models.stop_strings import cut_at_stop
from evalkit.redact import redact_secrets, redact_url
from evalkit.types import Generation, SampleInput

CHAT_PATH = "/v1/chat/completions"
COMPLETIONS_PATH = "/v1/completions"


@dataclass(frozen=True)
class ServerRules:
    """What a kind of server accepts, so unsupported settings fail loudly instead of being dropped.

    ``hosts`` are host-name suffixes identifying the server from ``base_url``;
    ``max_stop`` caps the number of stop strings (None = no cap);
    ``chat_max_tokens_field`` names the chat completion length limit;
    ``requires_model`` says the request must name a model.
    """

    name: str
    hosts: tuple[str, ...] = ()
    max_stop: int | None = None
    chat_max_tokens_field: str = "max_tokens"
    requires_model: bool = False


#: Known servers, first match wins; anything else gets the permissive last entry.
#: OpenAI (and Azure OpenAI) accept at most 4 stop sequences and name the chat
#: length limit ``max_completion_tokens`` (``max_tokens`` is refused by reasoning models).
SERVER_RULES: tuple[ServerRules, ...] = (
    ServerRules("OpenAI", ("api.openai.com",), 4, "max_completion_tokens", True),
    ServerRules("Azure OpenAI", (".openai.azure.com",), 4, "max_completion_tokens", True),
    ServerRules("OpenAI-compatible server (vLLM, transformers serve, llama.cpp, ...)"),
)


def rules_for(base_url: str) -> ServerRules:
    """The :data:`SERVER_RULES` entry for a server URL."""
    host = (httpx.URL(base_url).host or "").lower()
    for rules in SERVER_RULES:
        if any(host == h.lstrip(".") or host.endswith("." + h.lstrip(".")) for h in rules.hosts):
            return rules
    return SERVER_RULES[-1]


def check_supported(rules: ServerRules, config: GenerationConfig, model: str | None) -> None:
    """Raise :class:`ConfigError` for settings this kind of server cannot honour."""
    problems = []
    stops = [s for s in config.stop if s]
    if rules.max_stop is not None and len(stops) > rules.max_stop:
        problems.append(f"{len(stops)} stop strings given, {rules.name} accepts at most {rules.max_stop}")
    if rules.requires_model and not model:
        problems.append(f"{rules.name} needs the model name: set `model:` in the spec")
    if problems:
        raise ConfigError("the server cannot honour these settings: " + "; ".join(problems) + ".")


class OpenAIBackend:
    """Generation (and, where the server allows, log-likelihoods) over an OpenAI-compatible HTTP API.

    ``spec.adapter`` is not applied here (a server serves adapters under their own
    ``model`` names); it only enters the arm's fingerprint and so the cache key.
    """

    def __init__(self, spec: ModelSpec, *, retry: http_retry.RetryPolicy | None = None):
        if not spec.base_url:
            raise ConfigError("backend: openai needs base_url (e.g. http://localhost:8000).")
        if spec.chat_template not in ("auto", "none"):
            raise ConfigError(
                f"chat_template: {spec.chat_template} cannot be used with backend: openai; "
                "the server applies its own template.",
                hint="use chat_template: auto (server's template) or none (plain text via /v1/completions)",
            )
        self.spec = spec
        self.base_url = spec.base_url.rstrip("/").removesuffix("/v1")
        self.rules = rules_for(self.base_url)
        self.chat = spec.chat_template != "none"
        self.server_label = f"the server at {redact_url(self.base_url)}" + (
            f" (model {spec.model})" * bool(spec.model)
        )
        self._retry = retry
        self._client = httpx.Client(limits=httpx.Limits(max_connections=spec.max_concurrency))

    def render(self, user_input: SampleInput) -> str:
        """The exact request content: canonical JSON of the chat messages, or the plain text prompt."""
        if not self.chat:
            return render_prompt(None, user_input, self.spec.system_prompt, "none")
        messages = as_messages(user_input, self.spec.system_prompt)
        return json.dumps(messages, ensure_ascii=False, sort_keys=True, separators=(",", ":"))

    def generate(
        self,
        prompts: list[tuple[str, str]],
        config: GenerationConfig,
        *,
        batch_size: int | None = None,
        on_batch: BatchCallback | None = None,
        seeds: list[int] | None = None,
    ) -> list[Generation]:
        """Generate for (sample_id, prompt) pairs, ``max_concurrency`` requests at a time.

        Results are in input order; ``on_batch`` gets each one as it completes
        (``batch_size`` is ignored: every sample is its own request). ``seeds``
        (one per prompt) replaces ``config.seed`` in each sampled request (repeated draws).
        """
        check_supported(self.rules, config, self.spec.model)
        self._check_api_key()
        seeded = [(sid, prompt, config.seed if seeds is None else seeds[i]) for i, (sid, prompt) in
                  enumerate(prompts)]
        return self._fan_out(lambda item: self._generate_one(*item, config), seeded, on_batch)

    def loglikelihood(
        self, requests: list[tuple[str, str]], batch_size: int | None = None
    ) -> list[tuple[float, bool]]:
        """Sum log-probability of each continuation given its context, and whether it is the greedy path.

        Uses ``/v1/completions`` with ``echo=True, logprobs=1, max_tokens=0``
        (vLLM returns the prompt's log-probabilities that way; ``max_tokens=1``
        if that is refused); the first request is a probe, so a server without
        prompt log-probabilities fails fast.
        """
        if not requests:
            return []
        self._check_api_key()
        first = self._loglikelihood_one(requests[0])
        return [first, *self._fan_out(self._loglikelihood_one, requests[1:], None)]

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def _fan_out(self, work: Callable, items: list, on_result: BatchCallback | None) -> list:
        results: dict[int, object] = {}
        pool = ThreadPoolExecutor(max(1, min(self.spec.max_concurrency, len(items))), "evalkit-http")
        try:
            futures = {pool.submit(work, item): index for index, item in enumerate(items)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                if on_result is not None:
                    on_result([results[futures[future]]])
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return [results[i] for i in range(len(items))]

    def _generate_one(self, sample_id: str, prompt: str, seed: int, config: GenerationConfig) -> Generation:
        path = CHAT_PATH if self.chat else COMPLETIONS_PATH
        try:
            response, elapsed = self._post(path, self._payload(prompt, config, seed))
        except http_retry.RequestFailed as exc:
            return Generation(sample_id=sample_id, text="", error=self._scrub(exc.reason))
        try:
            if response.status_code >= 400:
                self._raise_if_fatal(response, path)
                raise ValueError(f"HTTP {response.status_code}: {http_retry.body_snippet(response)}")
            text, usage = _parse_completion(response, self.chat)
            tokens = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        except (AttributeError, TypeError, ValueError) as exc:  # a malformed body must not stop the run
            failed = self._scrub(str(exc))
            return Generation(sample_id=sample_id, text="", latency_s=round(elapsed, 6), error=failed)
        text, _ = cut_at_stop(text, config.stop)
        return Generation(sample_id=sample_id, text=text, prompt_tokens=tokens[0], new_tokens=tokens[1],
                          latency_s=round(elapsed, 6))

    def _payload(self, prompt: str, config: GenerationConfig, seed: int | None = None) -> dict:
        body: dict = {"model": self.spec.model} if self.spec.model else {}
        if self.chat:
            body["messages"] = json.loads(prompt)
            body[self.rules.chat_max_tokens_field] = config.max_new_tokens
        else:
            body["prompt"] = prompt
            body["max_tokens"] = config.max_new_tokens
        body["temperature"] = config.temperature
        if config.temperature > 0:
            body.update(top_p=config.top_p, seed=config.seed if seed is None else seed)
        stops = [s for s in config.stop if s]
        if stops:
            body["stop"] = stops
        return body

    def _loglikelihood_one(self, request: tuple[str, str]) -> tuple[float, bool]:
        context, continuation = request
        body: dict = {"model": self.spec.model} if self.spec.model else {}
        body.update(prompt=context + continuation, max_tokens=0, echo=True, logprobs=1, temperature=0)
        try:
            response, _ = self._post(COMPLETIONS_PATH, body)
            if response.status_code in (400, 422):  # max_tokens=0 refused: one extra token, ignored below
                response, _ = self._post(COMPLETIONS_PATH, {**body, "max_tokens": 1})
        except http_retry.RequestFailed as exc:
            if exc.status is not None:  # the server answers, but with an error: it cannot do this
                raise self._no_logprobs(exc.reason) from None
            reason = self._scrub(exc.reason)
            raise ModelError(f"log-likelihood request to {self.server_label} failed: {reason}") from None
        if response.status_code in (401, 403):
            self._raise_if_fatal(response, COMPLETIONS_PATH)
        try:
            if response.status_code >= 400:
                raise ValueError(f"HTTP {response.status_code}: {http_retry.body_snippet(response)}")
            _, choice = _first_choice(response)
            return continuation_logprob(choice.get("logprobs"), len(context), len(context + continuation))
        except ValueError as exc:
            raise self._no_logprobs(str(exc)) from None

    def _no_logprobs(self, reason: str) -> EvalkitError:
        return EvalkitError(
            f"this suite needs log-probabilities, which {self.server_label} does not return "
            f"({self._scrub(reason)}); run it with the HF backend"
        )

    def _post(self, path: str, payload: dict) -> tuple[httpx.Response, float]:
        return http_retry.post_json(
            self._client,
            self.base_url + path,
            payload,
            headers=self._headers(),
            timeout=self.spec.timeout,
            policy=self._retry or http_retry.DEFAULT_RETRY,
        )

    def _api_key(self) -> str | None:
        return os.environ.get(self.spec.api_key_env or "") or None

    def _check_api_key(self) -> None:
        if self.spec.api_key_env and not self._api_key():
            raise ConfigError(f"api_key_env names ${self.spec.api_key_env}, which is not set (or empty).")

    def _headers(self) -> dict[str, str]:
        key = self._api_key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _scrub(self, text: str) -> str:
        return redact_secrets(text, self._api_key())

    def _raise_if_fatal(self, response: httpx.Response, path: str) -> None:
        """Statuses that would fail every sample the same way stop the run with a clear message."""
        status, who = response.status_code, self.server_label
        detail = self._scrub(http_retry.body_snippet(response))
        if status in (401, 403):
            sent = f"${self.spec.api_key_env}" if self.spec.api_key_env else "no key (api_key_env is unset)"
            raise ModelError(f"{who} refused the credentials (HTTP {status}: {detail}); sent {sent}")
        if status == 404 and "model" in detail.lower():
            raise ModelError(f"{who} does not serve that model (HTTP 404: {detail}).")
        if status == 404 and path == COMPLETIONS_PATH:
            raise ModelError(f"this server has no {path}; use chat_template: auto ({who}: {detail})")
        if status == 404:
            raise ModelError(f"{who} has no {path} (HTTP 404: {detail}); is base_url right?")


def _first_choice(response: httpx.Response) -> tuple[dict, dict]:
    try:
        data = response.json()
    except ValueError:
        raise ValueError(f"malformed response: not JSON: {http_retry.body_snippet(response, 120)}") from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise ValueError(f"malformed response: no choices in {http_retry.body_snippet(response, 120)}")
    return data, choices[0]


def _parse_completion(response: httpx.Response, chat: bool) -> tuple[str, dict]:
    """(text, usage) from a chat or text completion; ValueError with a reason when it is malformed."""
    data, choice = _first_choice(response)
    text = (choice.get("message") or {}).get("content") if chat else choice.get("text")
    if not isinstance(text, str):
        raise ValueError(f"malformed response: no text in {http_retry.body_snippet(response, 120)}")
    usage = data.get("usage")
    return text, usage if isinstance(usage, dict) else {}


def continuation_logprob(logprobs: dict | None, context_chars: int, total_chars: int) -> tuple[float, bool]:
    """Sum the echoed prompt log-probabilities of the tokens covering ``[context_chars, total_chars)``.

    A token straddling the context/continuation boundary counts as continuation.
    Greedy means every such token is the top-1 alternative.
    """
    if not isinstance(logprobs, dict):
        raise ValueError("the response has no logprobs")
    tokens, values = logprobs.get("tokens"), logprobs.get("token_logprobs")
    offsets, tops = logprobs.get("text_offset"), logprobs.get("top_logprobs")
    if not (tokens and values and offsets and tops) or not len(tokens) == len(values) == len(offsets):
        raise ValueError("the response has no prompt logprobs (tokens, token_logprobs, text_offset)")
    ends = [*offsets[1:], total_chars]
    picked = [i for i in range(len(tokens)) if offsets[i] < total_chars and ends[i] > context_chars]
    if not picked or any(values[i] is None or i >= len(tops) or not tops[i] for i in picked):
        raise ValueError("the continuation's tokens have no logprobs")
    total = sum(float(values[i]) for i in picked)
    greedy = all(float(values[i]) >= max(tops[i].values()) - 1e-6 for i in picked)
    return total, greedy
