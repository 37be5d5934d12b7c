"""Pairwise judging: both orders, position bias, and the block added to a comparison."""

from __future__ import annotations

import json
import re

import pytest
from loopback_messages import fixed, rubric_options, user_text

from evalkit.compare.schema import PairwiseResult
from evalkit.judge.pairwise import (
    add_pairwise_to_comparison,
    judge_pairwise,
    pairwise_config_from_rubric,
    summarise_pairwise,
)
from evalkit.types import Sample

SAMPLES = [Sample(id=f"p{i}", input=f"Is the Nimbus {i} in stock?") for i in range(5)]
REFS = [f"reference reply {i}" for i in range(5)]
CANDS = [f"CANDIDATE reply {i}" for i in range(5)]


def _config(server, **over) -> dict:
    rubric_only = ("rubric", "scale", "pass_threshold")
    options = {k: v for k, v in rubric_options(server).items() if k not in rubric_only}
    return {**options, **over}


def _prefers_candidate(body: dict) -> str:
    first = re.search(r"<response_a>\n(.*?)\n</response_a>", user_text(body), re.DOTALL).group(1)
    return json.dumps({"winner": "A" if first.startswith("CANDIDATE") else "B", "reason": "better"})


def test_judge_preferring_the_first_position_gives_all_ties_and_full_position_bias(fake_key, messages_server):
    messages_server.responder = fixed('{"winner": "A", "reason": "the first one"}')
    results = judge_pairwise(SAMPLES, REFS, CANDS, _config(messages_server))
    assert messages_server.count == 10
    assert [r.outcome for r in results] == ["tie"] * 5 and [r.value for r in results] == [0.0] * 5
    assert not any(r.consistent for r in results)
    summary = summarise_pairwise(results, n_resamples=200)
    assert summary["position_bias_rate"] == 1.0 and summary["ties"] == 5 and summary["win_rate"] == 0.0
    ab, ba = results[0].transcripts["ab"], results[0].transcripts["ba"]
    assert "<response_a>\nreference reply 0\n</response_a>" in ab["prompt"]
    assert "<response_a>\nCANDIDATE reply 0\n</response_a>" in ba["prompt"]
    assert (ab["winner"], ab["score"], ba["winner"], ba["score"]) == ("A", -1, "A", 1)


def test_consistent_judge_gives_wins_and_no_position_bias(fake_key, messages_server):
    messages_server.responder = _prefers_candidate
    refs_by_id = dict(zip([s.id for s in SAMPLES], REFS))
    results = judge_pairwise(SAMPLES, refs_by_id, CANDS, _config(messages_server))
    assert [r.value for r in results] == [1.0] * 5 and all(r.consistent for r in results)
    summary = summarise_pairwise(results, n_resamples=200)
    assert (summary["win_rate"], summary["position_bias_rate"], summary["mean"]) == (1.0, 0.0, 1.0)
    assert summary["usage"]["calls"] == 10


def test_unparseable_order_and_missing_output_are_errors(fake_key, messages_server):
    messages_server.responder = fixed("B is better")
    results = judge_pairwise(SAMPLES[:2], [REFS[0], None], CANDS[:2], _config(messages_server))
    assert messages_server.count == 2
    assert results[0].value is None and results[0].error.startswith("judge error: unparseable reply")
    assert results[1].value is None and "no output" in results[1].error
    assert summarise_pairwise(results)["errors"] == 2


def _comparison() -> dict:
    rows = []
    for sample, ref, cand in zip(SAMPLES, REFS, CANDS):
        outputs = {"base": {"text": ref, "error": None}, "tuned": {"text": cand, "error": None}}
        rows.append({"id": sample.id, "input": sample.input, "target": None, "category": "",
                     "outputs": outputs})
    rows[4]["outputs"]["tuned"] = {"text": "", "error": "generation failed: out of memory"}
    return {"arms": [{"name": "base", "role": "reference"}, {"name": "tuned", "role": "candidate"}],
            "suites": [{"name": "support-replies", "deltas": []}], "samples": {"support-replies": rows},
            "metadata": {"notices": [], "options": {"confidence": 0.9, "n_resamples": 300, "seed": 1}}}


def test_add_pairwise_to_comparison(fake_key, messages_server):
    messages_server.responder = _prefers_candidate
    comparison = _comparison()
    block = add_pairwise_to_comparison(comparison, "support-replies", _config(messages_server))
    assert comparison["suites"][0]["pairwise"] is block and block["reference"] == "base"
    assert PairwiseResult.model_validate(block).arms["tuned"].wins == block["arms"]["tuned"]["wins"]
    tuned = block["arms"]["tuned"]
    rows = comparison["samples"]["support-replies"]
    errors = [row["outputs"]["tuned"]["pairwise"]["error"] for row in rows]
    assert (tuned["n"], tuned["wins"], tuned["errors"], tuned["win_rate"]) == (4, 4, 1, 1.0), errors
    assert tuned["win_rate_low"] == pytest.approx(1.0) and tuned["position_bias_rate"] == 0.0
    first = comparison["samples"]["support-replies"][0]["outputs"]["tuned"]["pairwise"]
    assert first["outcome"] == "win" and set(first["transcripts"]) == {"ab", "ba"}
    assert "pairwise" not in comparison["samples"]["support-replies"][0]["outputs"]["base"]
    assert messages_server.count == 8


def test_add_pairwise_without_key_records_a_notice(isolated_home, monkeypatch, messages_server):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    comparison = _comparison()
    assert add_pairwise_to_comparison(comparison, "support-replies", _config(messages_server)) is None
    assert comparison["metadata"]["notices"] == [
        "support-replies (pairwise): judge not run: ANTHROPIC_API_KEY is not set"]
    assert "pairwise" not in comparison["suites"][0] and messages_server.count == 0


def test_pairwise_config_from_a_rubric_scorer(messages_server):
    cfg = pairwise_config_from_rubric(rubric_options(messages_server, samples=3))
    assert cfg.criteria.endswith("Helpful, polite, correct and concise.") and cfg.model == "claude-loopback"
    assert cfg.base_url == messages_server.base_url and cfg.max_concurrency == 4
