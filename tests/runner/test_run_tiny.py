"""End-to-end runs of the suite runner on a tiny random Llama."""

from __future__ import annotations

import json

import pytest

from evalkit.api import open_cache
from evalkit.models.loader import load_model
from evalkit.models.spec import GenerationConfig, ModelSpec
from evalkit.runner.run import run_suite
from evalkit.runner.store import read_jsonl_tolerant
from evalkit.suite.loader import load_suite


@pytest.fixture()
def tiny_spec(tiny_model_dir) -> ModelSpec:
    return ModelSpec(
        name="tiny", base=str(tiny_model_dir), generation=GenerationConfig(max_new_tokens=8), batch_size=4
    )


def test_run_writes_files_and_metrics(tiny_spec, small_suite, tmp_path, isolated_home):
    arm = load_model(tiny_spec)
    suite = load_suite(str(small_suite))
    result = run_suite(arm, suite, tmp_path / "run", cache=open_cache())
    for name in ("run.json", "generations.jsonl", "scores.jsonl", "metrics.json"):
        assert (tmp_path / "run" / name).is_file(), name
    gens = read_jsonl_tolerant(tmp_path / "run" / "generations.jsonl")
    assert sorted(g["sample_id"] for g in gens) == sorted(s.id for s in suite.samples)
    assert all(0 < g["new_tokens"] <= 8 for g in gens)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["fingerprint"] == arm.fingerprint
    assert metrics["metrics"]["exact_match"]["n"] == 12
    assert set(metrics["versions"]) >= {"torch", "transformers", "evalkit"}
    assert result.generated == 12 and result.cached == 0


def test_second_run_is_served_from_cache(tiny_spec, small_suite, tmp_path, isolated_home):
    suite = load_suite(str(small_suite))
    first = run_suite(load_model(tiny_spec), suite, tmp_path / "a", cache=open_cache())
    second = run_suite(load_model(tiny_spec), suite, tmp_path / "b", cache=open_cache())
    assert second.generated == 0 and second.cached == 12
    a = [g["text"] for g in read_jsonl_tolerant(tmp_path / "a" / "generations.jsonl")]
    b = {g["sample_id"]: g["text"] for g in read_jsonl_tolerant(tmp_path / "b" / "generations.jsonl")}
    assert sorted(a) == sorted(b.values())
    assert first.metrics["metrics"] == second.metrics["metrics"]


def test_batched_greedy_equals_unbatched(tiny_model_dir, small_suite, tmp_path, isolated_home):
    suite = load_suite(str(small_suite))
    outputs = {}
    for batch in (1, 5):
        spec = ModelSpec(name=f"b{batch}", base=str(tiny_model_dir), batch_size=batch)
        run_suite(load_model(spec), suite, tmp_path / f"b{batch}", cache=None)
        rows = read_jsonl_tolerant(tmp_path / f"b{batch}" / "generations.jsonl")
        outputs[batch] = {r["sample_id"]: r["text"] for r in rows}
    assert outputs[1] == outputs[5]


def test_resume_skips_finished_samples(tiny_spec, small_suite, tmp_path, isolated_home):
    suite = load_suite(str(small_suite))
    out = tmp_path / "run"
    full = run_suite(load_model(tiny_spec), suite, out, cache=None)
    rows = (out / "generations.jsonl").read_text().splitlines()
    # Simulate a kill after 5 samples, with a torn half-written sixth line.
    (out / "generations.jsonl").write_text("\n".join(rows[:5]) + "\n" + rows[5][:20])
    resumed = run_suite(load_model(tiny_spec), suite, out, cache=None)
    assert resumed.resumed == 5 and resumed.generated == 7
    assert resumed.metrics["metrics"] == full.metrics["metrics"]


def test_rescore_never_generates(tiny_spec, small_suite, tmp_path, isolated_home):
    from evalkit.api import rescore

    suite = load_suite(str(small_suite))
    run_suite(load_model(tiny_spec), suite, tmp_path / "run", cache=None)
    before = (tmp_path / "run" / "generations.jsonl").read_bytes()
    (tmp_path / "run" / "metrics.json").unlink()
    [metrics] = rescore(tmp_path / "run")
    assert metrics["metrics"]["exact_match"]["n"] == 12
    assert (tmp_path / "run" / "generations.jsonl").read_bytes() == before


def test_partial_credit_metrics_are_not_called_binary():
    from evalkit.runner.scoring import summarise

    def row(value, passed):
        return {"scorer": "m", "value": value, "passed": passed, "error": None}

    binary = summarise([row(1.0, True), row(0.0, False)], ["m"])["m"]
    partial = summarise([row(1.0, True), row(2 / 3, False), row(0.0, False)], ["m"])["m"]
    assert binary["binary"] is True
    assert partial["binary"] is False and partial["pass_rate"] == 1 / 3
