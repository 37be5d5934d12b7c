"""Judge backends: one HTTP call per :meth:`complete`, errors classified as transient or permanent.

* ``anthropic``: the official SDK's Messages API, key from ``ANTHROPIC_API_KEY``
  only, SDK retries disabled (``max_retries=0``) so evalkit's retry policy
  (:mod:`evalkit.judge.client`) is the only one.
* ``openai-compatible``: ``POST {base_url}/v1/chat/completions`` with httpx
  (vLLM, TGI, Ollama, ``transformers serve``, ...), optional bearer key from
  ``api_key_env``.

Which statuses are transient and how ``Retry-After`` reads are the model servers' own
(:mod:`evalkit.models.http_retry`).

A missing key raises :class:`~evalkit.errors.SuiteSkipped` when the backend is
built, so a judge without a key is skipped visibly, never scored. Keys are held
in memory only and are scrubbed from every error message (:meth:`redact`).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

import httpx

from evalkit.errors import SuiteSkipped
from evalkit.judge.config import JudgeConfig
from evalkit.models.http_retry import is_retryable, retry_after_seconds
from evalkit.redact import redact_secrets

_REDACTED = "[redacted]"


@dataclass(frozen=True)
class JudgeRequest:
    """One judge prompt: a system prompt and one user message."""

    system: str
    user: str


@dataclass(frozen=True)
class JudgeReply:
    """The judge's raw text and the tokens the server reported for the call."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0


class JudgeCallError(Exception):
    """A failed judge call; ``transient`` ones (429, 5xx, timeouts) may be retried after ``retry_after``."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.retry_after = retry_after


class Backend:
    """Common part: the secret (for redaction) and notices the run should show."""

    name = ""

    def __init__(self, config: JudgeConfig, secret: str | None):
        self.config = config
        self._secret = secret or None
        self.notices: list[str] = []

    def redact(self, text: str) -> str:
        """``text`` with the API key (if any) replaced by ``[redacted]``."""
        return redact_secrets(text, self._secret, _REDACTED)

    def complete(self, request: JudgeRequest) -> JudgeReply:
        """Make exactly one judge call."""
        raise NotImplementedError


class AnthropicBackend(Backend):
    """Claude through the official ``anthropic`` SDK (Messages API)."""

    name = "anthropic"

    def __init__(self, config: JudgeConfig, secret: str):
        super().__init__(config, secret)
        import anthropic

        self._sdk = anthropic
        kwargs: dict[str, Any] = {"api_key": secret, "max_retries": 0, "timeout": config.timeout}
        if config.base_url:
            kwargs["base_url"] = config.base_url
        self._client = anthropic.Anthropic(**kwargs)
        self._send_temperature = config.temperature is not None
        self._lock = threading.Lock()

    def complete(self, request: JudgeRequest) -> JudgeReply:
        """One Messages API call; a 400 rejecting ``temperature`` drops it for this and later calls."""
        sdk = self._sdk
        with self._lock:
            send_temperature = self._send_temperature
        extra = {"extra_body": {"temperature": self.config.temperature}} if send_temperature else {}
        try:
            message = self._client.messages.create(
                model=self.config.model, max_tokens=self.config.max_tokens, system=request.system,
                messages=[{"role": "user", "content": request.user}], **extra)
        except sdk.APITimeoutError:
            raise JudgeCallError(f"timed out after {self.config.timeout:g}s", transient=True) from None
        except sdk.APIConnectionError as exc:
            raise JudgeCallError(self.redact(f"connection failed: {exc}"), transient=True) from None
        except sdk.APIStatusError as exc:
            detail = _error_detail(exc.body) or str(exc)
            if exc.status_code == 400 and send_temperature and "temperature" in detail.lower():
                with self._lock:
                    if self._send_temperature:
                        self._send_temperature = False
                        self.notices.append(f"model {self.config.model} rejects 'temperature'; "
                                            "judging with the API's default sampling")
                return self.complete(request)
            raise JudgeCallError(self.redact(f"HTTP {exc.status_code}: {detail}"[:500]),
                                 transient=is_retryable(exc.status_code),
                                 retry_after=retry_after_seconds(exc.response)) from None
        except (sdk.APIResponseValidationError, ValueError) as exc:
            raise JudgeCallError(self.redact(f"malformed response: {type(exc).__name__}: {exc}"[:500]),
                                 transient=False) from None
        try:
            text = "".join(block.text for block in message.content if getattr(block, "type", "") == "text")
            usage = message.usage
            return JudgeReply(text=self.redact(text), input_tokens=int(usage.input_tokens or 0),
                              output_tokens=int(usage.output_tokens or 0))
        except (AttributeError, TypeError, ValueError) as exc:
            raise JudgeCallError(f"malformed response: {type(exc).__name__}", transient=False) from None


class OpenAICompatibleBackend(Backend):
    """Any server speaking ``/v1/chat/completions``."""

    name = "openai-compatible"

    def __init__(self, config: JudgeConfig, secret: str | None):
        super().__init__(config, secret)
        root = (config.base_url or "").rstrip("/")
        self.endpoint = (root if root.endswith("/v1") else root + "/v1") + "/chat/completions"
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        self._http = httpx.Client(timeout=httpx.Timeout(config.timeout), headers=headers)

    def complete(self, request: JudgeRequest) -> JudgeReply:
        """One chat-completions call."""
        body: dict[str, Any] = {
            "model": self.config.model, "max_tokens": self.config.max_tokens, "stream": False,
            "messages": [{"role": "system", "content": request.system},
                         {"role": "user", "content": request.user}],
        }
        if self.config.temperature is not None:
            body["temperature"] = self.config.temperature
        try:
            response = self._http.post(self.endpoint, json=body)
        except httpx.TimeoutException:
            raise JudgeCallError(f"timed out after {self.config.timeout:g}s", transient=True) from None
        except httpx.HTTPError as exc:
            raise JudgeCallError(self.redact(f"connection failed: {type(exc).__name__}: {exc}"),
                                 transient=True) from None
        if response.status_code != 200:
            raise JudgeCallError(self.redact(f"HTTP {response.status_code}: {response.text[:300]}"),
                                 transient=is_retryable(response.status_code),
                                 retry_after=retry_after_seconds(response))
        try:
            data = response.json()
            text = data["choices"][0]["message"]["content"]
            if not isinstance(text, str):
                raise TypeError("content is not a string")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise JudgeCallError(self.redact(f"malformed response: {type(exc).__name__}: {exc}"[:300]),
                                 transient=False) from None
        usage = data.get("usage") or {}
        return JudgeReply(text=self.redact(text), input_tokens=int(usage.get("prompt_tokens") or 0),
                          output_tokens=int(usage.get("completion_tokens") or 0))


def _error_detail(body: Any) -> str:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return f"{err.get('type', 'error')}: {err['message']}"
    return ""


def make_backend(config: JudgeConfig) -> Backend:
    """Build the configured backend; SuiteSkipped if its API key variable is not set."""
    env = config.key_env
    secret = os.environ.get(env, "").strip() if env else None
    if env and not secret:
        raise SuiteSkipped(f"judge not run: {env} is not set")
    if config.backend == "anthropic":
        return AnthropicBackend(config, secret or "")
    return OpenAICompatibleBackend(config, secret)
