"""POSTing JSON with retries: exponential backoff with jitter, honouring ``Retry-After``.

The one HTTP retry classification of evalkit, for model servers and judges alike
(:func:`is_retryable`, :func:`retry_after_seconds`). Retried: HTTP 408, 409, 425, 429 and
every 5xx, timeouts and connection errors. Other
statuses (2xx, 4xx) are returned to the caller, which knows what they mean for
its endpoint. When the retries run out, :class:`RequestFailed` carries a short,
human reason ("HTTP 503 after 4 attempts: overloaded"); it never includes
request headers, so an API key cannot leak into an error message.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

RETRY_STATUSES = frozenset({408, 409, 425, 429})  # timeout, conflict, too early, rate limit


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one request.

    ``attempts`` counts the first try. Backoff before retry ``n`` (1-based) is
    ``min(max_delay, base_delay * 2**(n-1))`` with "equal jitter" (half fixed,
    half random), unless the server sent ``Retry-After`` (seconds or an HTTP
    date, or ``retry-after-ms``), which is used as given up to ``max_retry_after``.
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 120.0

    def backoff(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


DEFAULT_RETRY = RetryPolicy()


class RequestFailed(Exception):
    """A request that did not get a usable HTTP answer, even after retries.

    ``status`` is the last HTTP error status the server answered with, if it answered at all.
    """

    def __init__(self, reason: str, status: int | None = None):
        self.reason = reason
        self.status = status
        super().__init__(reason)


def is_retryable(status: int) -> bool:
    """True for statuses worth retrying (408, 409, 425, 429, 5xx)."""
    return status in RETRY_STATUSES or status >= 500


def retry_after_seconds(response: httpx.Response | None) -> float | None:
    """The server's requested wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date).

    None when absent or unreadable; a date already past is 0.
    """
    headers = response.headers if response is not None else {}
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def body_snippet(response: httpx.Response, limit: int = 200) -> str:
    """The start of a response body on one line, for error messages."""
    text = " ".join(response.text.split())
    return text[:limit] + ("…" if len(text) > limit else "")


def post_json(
    client: httpx.Client,
    url: str,
    payload: dict,
    *,
    headers: dict[str, str],
    timeout: float,
    policy: RetryPolicy = DEFAULT_RETRY,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[httpx.Response, float]:
    """POST ``payload`` to ``url``; returns the final response and the seconds spent (retries included).

    Raises :class:`RequestFailed` when every attempt ended in a timeout, a
    connection error or a retryable status.
    """
    started = time.perf_counter()
    reason, answered = "no attempt made", None  # answered: (status, reason) of the last HTTP error answer
    for attempt in range(1, max(1, policy.attempts) + 1):
        wait = None
        try:
            response = client.post(url, json=payload, headers=headers, timeout=timeout)
        except httpx.TimeoutException:
            reason = f"timed out after {timeout:g} s"
        except httpx.ConnectError as exc:
            reason = f"cannot reach {_origin(url)} ({_describe(exc)})"
        except httpx.TransportError as exc:
            reason = f"connection to {_origin(url)} failed ({_describe(exc)})"
        else:
            if not is_retryable(response.status_code):
                return response, time.perf_counter() - started
            reason = f"HTTP {response.status_code}: {body_snippet(response)}"
            answered = (response.status_code, reason)
            wait = retry_after_seconds(response)
        if attempt < policy.attempts:
            sleep(policy.backoff(attempt, wait))
    if answered is not None and answered[1] != reason:
        reason = f"{answered[1]}, then {reason}"
    plural = "s" if policy.attempts > 1 else ""
    status = answered[0] if answered else None
    raise RequestFailed(f"{reason} (gave up after {policy.attempts} attempt{plural})", status)


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    for known in ("connection refused", "connection reset"):
        if known in text.lower():
            return known
    return " ".join(text.split())[:160]
