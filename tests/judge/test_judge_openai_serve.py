"""The openai-compatible backend end to end against a real `transformers serve` with the default model.

The 135M model is a poor judge: these tests check the plumbing (requests made,
replies kept in transcripts, unparseable replies recorded as judge errors and
never as zeros, token usage counted, cache hits cost no request).
"""

from __future__ import annotations

import pytest

from evalkit.scorers.registry import build_scorer
from evalkit.types import Generation, Sample

pytestmark = pytest.mark.model

SAMPLES = [
    Sample(id="a", input="My order hasn't arrived after a week. Where is it?"),
    Sample(id="b", input="Can I return headphones I opened but never used?"),
]
OUTPUTS = ["Sorry for the wait! Please send your order number and we'll check with the carrier today.",
           "Yes, unused items in their original packaging can be returned within 30 days."]


def _options(server, **over) -> dict:
    return {"backend": "openai-compatible", "base_url": server.base_url, "model": server.model,
            "rubric": "Helpful, polite, correct and concise.", "scale": [1, 10], "pass_threshold": 7,
            "max_tokens": 24, "max_concurrency": 1, "timeout": 300, "max_retries": 0, **over}


def test_rubric_judge_through_transformers_serve(transformers_server, isolated_home):
    fn = build_scorer("judge_rubric", _options(transformers_server))
    gens = [Generation(s.id, t) for s, t in zip(SAMPLES, OUTPUTS)]
    before = transformers_server.request_count()
    scores = fn.score_batch(SAMPLES, gens)
    after = transformers_server.request_count()
    assert after - before == 2, transformers_server.log_tail()
    for score in scores:
        judge = score.details["judge"]
        assert isinstance(judge["reply"], str) and judge["cached"] is False
        assert judge["usage"]["calls"] == 1 and judge["usage"]["input_tokens"] > 150
        assert judge["usage"]["output_tokens"] > 0
        assert "<response>" in judge["prompt"]
        if score.error is None:
            assert 1 <= score.value <= 10 and score.passed == (score.value >= 7)
        else:
            assert score.value is None and score.passed is None
            assert score.error.startswith("judge error: unparseable reply")
    totals = fn.usage_summary()
    assert totals["calls"] == 2 and totals["input_tokens"] == sum(
        s.details["judge"]["usage"]["input_tokens"] for s in scores)

    again = build_scorer("judge_rubric", _options(transformers_server)).score_batch(SAMPLES, gens)
    assert transformers_server.request_count() == after
    assert [s.details["judge"]["reply"] for s in again] == [s.details["judge"]["reply"] for s in scores]
    assert all(s.details["judge"]["cached"] for s in again)


def test_http_errors_from_the_server_are_judge_errors(transformers_server, isolated_home):
    fn = build_scorer("judge_rubric", _options(transformers_server, model="not-the-pinned-model"))
    (score,) = fn.score_batch(SAMPLES[:1], [Generation("a", OUTPUTS[0])])
    assert score.value is None and score.error.startswith("judge error: HTTP 400")
    assert fn.usage_summary()["attempts"] == 1  # a 4xx is not retried
