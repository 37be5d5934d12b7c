"""Judges retry exactly the statuses model servers retry, and read Retry-After the same way."""

from __future__ import annotations

import httpx
import pytest

from evalkit.judge.backends import JudgeCallError, JudgeRequest, OpenAICompatibleBackend
from evalkit.judge.config import JudgeConfig
from evalkit.models.http_retry import is_retryable

STATUSES = (400, 401, 404, 408, 409, 422, 425, 429, 500, 503, 529)


def _failing_backend(status: int, headers: dict[str, str]) -> OpenAICompatibleBackend:
    config = JudgeConfig(backend="openai-compatible", model="m", base_url="http://judge.invalid")
    backend = OpenAICompatibleBackend(config, secret=None)
    reply = httpx.MockTransport(lambda request: httpx.Response(status, headers=headers, text="busy"))
    backend._http = httpx.Client(transport=reply)
    return backend


@pytest.mark.parametrize("status", STATUSES)
def test_a_judge_error_is_transient_exactly_when_a_model_server_would_retry(status):
    with pytest.raises(JudgeCallError) as info:
        _failing_backend(status, {"retry-after": "3"}).complete(JudgeRequest(system="s", user="u"))
    assert info.value.transient is is_retryable(status)
    assert info.value.retry_after == 3.0
    assert info.value.transient is (status in (408, 409, 425, 429) or status >= 500)
