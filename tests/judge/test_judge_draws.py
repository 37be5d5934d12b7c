"""Judge ``samples: k`` kept as draws (every value, their mean), alone and with repeated generation draws."""

from __future__ import annotations

import itertools
import json

import pytest
import yaml
from loopback_messages import rubric_options, user_text

from evalkit.compare.rundata import load_run_dir
from evalkit.runner.run import score_run_dir, suite_signature
from evalkit.runner.store import read_jsonl_tolerant, write_json_atomic
from evalkit.scorers.registry import build_scorer
from evalkit.suite.loader import load_suite
from evalkit.types import SCHEMA_VERSION, Generation, Sample


def _reference_options(server, **overrides) -> dict:
    options = {k: v for k, v in rubric_options(server, **overrides).items()
               if k not in ("rubric", "scale", "pass_threshold")}
    return {**options, "max_concurrency": 1, "temperature": 1.0}


def _verdicts(script: dict[str, list[str]]):
    """A responder answering each response text with its own cycle of verdicts."""
    cycles = {text: itertools.cycle(verdicts) for text, verdicts in script.items()}

    def respond(body: dict) -> str:
        response = user_text(body).split("<response>")[1].split("</response>")[0].strip()
        return json.dumps({"verdict": next(cycles[response]), "reason": "checked"})

    return respond


def test_rubric_samples_keep_every_value(fake_key, messages_server):
    replies = itertools.cycle(['{"score": 8, "reason": "a"}', '{"score": 8, "reason": "b"}',
                               '{"score": 5, "reason": "c"}'])
    messages_server.responder = lambda body: next(replies)
    fn = build_scorer("judge_rubric", rubric_options(messages_server, samples=3, temperature=1.0,
                                                     max_concurrency=1))
    [score] = fn.score_batch([Sample(id="s", input="Where is my order?")], [Generation("s", "On its way.")])
    assert score.details["draws"] == [8.0, 8.0, 5.0] and score.value == pytest.approx(7.0)
    # pass_threshold 7: two samples pass, one fails, so the item is neither passed nor failed
    assert score.details["draws_passed"] == [True, True, False] and score.passed is None
    assert len(score.details["judge"]["draws"]) == 3 and score.details["judge"]["score"] == pytest.approx(7.0)


def test_reference_samples_are_averaged_not_voted(fake_key, messages_server):
    messages_server.responder = _verdicts({"split": ["correct", "correct", "incorrect"],
                                           "sure": ["correct"], "wrong": ["incorrect"]})
    fn = build_scorer("judge_reference", _reference_options(messages_server, samples=3))
    samples = [Sample(id=i, input="Return window?", target="30 days.") for i in ("a", "b", "c")]
    split, sure, wrong = fn.score_batch(samples, [Generation("a", "split"), Generation("b", "sure"),
                                                  Generation("c", "wrong")])
    assert split.details["draws"] == [1.0, 1.0, 0.0] and split.value == pytest.approx(2 / 3)
    assert split.passed is None and "correct in 2 of 3 samples" in split.explanation
    assert (sure.value, sure.passed, sure.details["draws"]) == (1.0, True, [1.0, 1.0, 1.0])
    assert (wrong.value, wrong.passed, wrong.details["draws"]) == (0.0, False, [0.0, 0.0, 0.0])
    assert messages_server.count == 9


def test_single_sample_keeps_its_old_shape(fake_key, messages_server):
    messages_server.responder = _verdicts({"ok": ["correct"]})
    fn = build_scorer("judge_reference", _reference_options(messages_server))
    [score] = fn.score_batch([Sample(id="a", input="q", target="t")], [Generation("a", "ok")])
    assert (score.value, score.passed) == (1.0, True) and set(score.details) == {"judge"}


def test_generation_draws_times_judge_samples_reach_sample_results(fake_key, messages_server, tmp_path):
    """Two generation draws judged twice each: four values per item, in (draw, judge sample) order."""
    messages_server.responder = _verdicts({"a0": ["correct", "incorrect"], "a1": ["correct", "correct"],
                                           "b0": ["incorrect"], "b1": ["incorrect"]})
    options = _reference_options(messages_server, samples=2)
    folder = tmp_path / "suite"
    folder.mkdir()
    rows = [{"id": i, "input": "Return window?", "target": "30 days."} for i in ("a", "b")]
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    scorers = [{"name": "judge_reference", "options": options}]
    spec = {"name": "judged", "data": "data.jsonl", "scorers": scorers}
    (folder / "suite.yaml").write_text(yaml.safe_dump(spec))
    suite = load_suite(str(folder))
    out = tmp_path / "run"
    header = {"schema_version": SCHEMA_VERSION, "suite": suite_signature(suite), "samples_per_item": 2,
              "arm": {"name": "m", "fingerprint": "f" * 64}}
    write_json_atomic(out / "run.json", header)
    generations = {(sid, d): Generation(sid, f"{sid}{d}", draw=d) for sid in ("a", "b") for d in (0, 1)}
    metrics = score_run_dir(out, suite, generations=generations)
    rows = read_jsonl_tolerant(out / "scores.jsonl")
    # one row per (sample, draw), draws in order within a sample (samples in the suite's seeded order)
    assert sorted((r["sample_id"], r["draw"]) for r in rows) == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    assert [r["draw"] for r in rows if r["sample_id"] == "a"] == [0, 1]
    (out / "generations.jsonl").write_text("".join(json.dumps({**g.to_dict(), "draw": g.draw}) + "\n"
                                                   for g in generations.values()))
    run = load_run_dir(out)
    a, b = run.samples["a"], run.samples["b"]
    assert a.draws == [1.0, 0.0, 1.0, 1.0] and a.value == pytest.approx(0.75) and a.passed is None
    assert b.draws == [0.0, 0.0, 0.0, 0.0] and b.value == 0.0 and b.passed is False
    assert a.text == "a0"
    entry = metrics["metrics"]["judge_reference"]
    assert entry["mean"] == pytest.approx(0.375) and entry["pass_rate"] == pytest.approx(0.375)
    assert entry["n"] == 2 and entry["binary"] is False and entry["samples_per_item"] == 2
    assert messages_server.count == 8
