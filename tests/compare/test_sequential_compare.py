"""`evalkit compare --sequential` on real runs of a tiny model: stops early, records rounds, resumes."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import write_suite
from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.compare.rundata import load_run_dir
from evalkit.models.loader import load_model
from evalkit.models.spec import ModelSpec
from evalkit.runner.run import run_suite
from evalkit.runner.store import read_jsonl_tolerant
from evalkit.suite.loader import load_suite


def _suite_with_targets(tmp_path, tiny_model_dir, name, kind, n, spec_extra=None):
    """A suite whose targets are one arm's greedy outputs (that arm passes everything)."""
    rows = [{"id": f"{name}{i:03d}", "input": f"item {i} says {i * 7 % 13}", "target": ""} for i in range(n)]
    spec = {"name": name, "kind": kind, "generation": {"max_new_tokens": 3},
            "scorers": [{"name": "exact_match"}]}
    folder = write_suite(tmp_path / "suites" / name, rows, spec)
    model = ModelSpec(name="probe", base=str(tiny_model_dir), batch_size=64, **(spec_extra or {}))
    run_suite(load_model(model), load_suite(str(folder)), tmp_path / f"probe-{name}", cache=None)
    outputs = {g["sample_id"]: g["text"]
               for g in read_jsonl_tolerant(tmp_path / f"probe-{name}" / "generations.jsonl")}
    return write_suite(folder, [{**r, "target": outputs[r["id"]]} for r in rows], spec)


@pytest.fixture()
def specs(tmp_path, tiny_model_dir):
    paths = []
    for name, extra in (("base", {}), ("same", {})):
        paths.append(tmp_path / f"{name}.yaml")
        doc = {"name": name, "base": str(tiny_model_dir), "batch_size": 64, **extra}
        paths[-1].write_text(yaml.safe_dump(doc))
    return paths


def _compare(*args):
    result = CliRunner().invoke(app, ["compare", *map(str, args)])
    return result.exit_code, result.output


def test_unchanged_model_is_cleared_early_and_the_rest_is_never_generated(
    tmp_path, tiny_model_dir, specs, isolated_home
):
    suite = _suite_with_targets(tmp_path, tiny_model_dir, "echo", "regression", 400)
    out = tmp_path / "cmp"
    code, output = _compare(*specs, "--suite", suite, "--out", out, "--sequential", "--generate-ahead", "0")
    assert code == 0, output
    doc = json.loads((out / "comparison.json").read_text())
    seq = doc["sequential"]["suites"]["echo"]
    assert seq["reason"] == "forgetting ruled out" and seq["used"] < 400 and seq["used"] % 32 == 0
    assert seq["generated"] == 2 * seq["used"] and seq["fixed_n_would_generate"] == 800
    rounds = doc["sequential"]["rounds"]
    assert len(rounds) == seq["used"] // 32 and rounds[-1]["suites"]["echo"]["settled"]
    assert all(not r["suites"]["echo"]["settled"] for r in rounds[:-1])
    [delta] = doc["suites"][0]["deltas"]
    assert delta["test"] == "betting_confidence_sequence" and delta["n"] == seq["used"]
    assert -0.05 < delta["low"] < 0 < delta["high"] < 0.05  # budget = min_effect without a gate
    assert delta["verdict"] == "no significant change" and delta["sequential"]["used"] == seq["used"]
    for run_dir in (out / "runs").rglob("run.json"):  # the unused samples were never generated
        assert len(load_run_dir(run_dir.parent).samples) == seq["used"]
    assert f"decided after {seq['used']} of 400 samples (forgetting ruled out)" in output
    html = (out / "index.html").read_text()
    assert "Sequential stopping" in html and "forgetting ruled out" in html

    again_code, _ = _compare(*specs, "--suite", suite, "--out", out, "--sequential", "--generate-ahead", "0")
    again = json.loads((out / "comparison.json").read_text())
    assert again_code == 0 and again["sequential"]["rounds"] == rounds  # a re-run replays the same sequence


def test_generating_ahead_in_engine_batches_changes_no_look_and_no_number(
    tmp_path, tiny_model_dir, specs, isolated_home, monkeypatch
):
    from evalkit.models.hf_backend import HFBackend

    suite = _suite_with_targets(tmp_path, tiny_model_dir, "echo", "regression", 400)
    batches = []
    generate = HFBackend.generate

    def counted(self, prompts, *args, **kwargs):
        batches.append(len(prompts))
        return generate(self, prompts, *args, **kwargs)

    monkeypatch.setattr(HFBackend, "generate", counted)
    docs = {}
    for ahead in (0, 128):
        batches.clear()
        out = tmp_path / f"ahead{ahead}"
        monkeypatch.setenv("EVALKIT_HOME", str(tmp_path / f"home{ahead}"))  # each run its own cache
        code, output = _compare(*specs, "--suite", suite, "--out", out, "--sequential",
                                "--generate-ahead", str(ahead))
        assert code == 0, output
        docs[ahead] = (json.loads((out / "comparison.json").read_text()), list(batches))
        assert not (out / "runs" / ".ahead").exists()
    (plain, plain_batches), (ahead, ahead_batches) = docs[0], docs[128]
    used = plain["sequential"]["suites"]["echo"]["used"]
    batches_ahead = -(-used // 128)
    assert used % 128 and batches_ahead * 128 < 400  # it stopped inside a batch generated ahead
    assert ahead["sequential"]["rounds"] == plain["sequential"]["rounds"]
    assert ahead["suites"][0]["deltas"] == plain["suites"][0]["deltas"]
    assert ahead["sequential"]["generate_ahead"] == 128 and plain["sequential"]["generate_ahead"] == 0
    assert ahead["sequential"]["suites"]["echo"]["generated"] == 2 * 128 * batches_ahead
    assert plain["sequential"]["suites"]["echo"]["generated"] == 2 * used
    # both arms are one model, so the second finds the first's outputs cached: one engine call a batch
    assert plain_batches == [32] * (used // 32)  # every round generated on its own
    assert ahead_batches == [128] * batches_ahead  # and every round found its samples cached


def test_task_improvement_stops_after_the_first_round_and_forgetting_needs_its_budget(
    tmp_path, tiny_model_dir, isolated_home
):
    task = _suite_with_targets(tmp_path, tiny_model_dir, "task", "task", 300, {"system_prompt": "Be brief."})
    specs = []
    for name, extra in (("base", {}), ("prompted", {"system_prompt": "Be brief."})):
        specs.append(tmp_path / f"{name}.yaml")
        doc = {"name": name, "base": str(tiny_model_dir), "batch_size": 64, **extra}
        specs[-1].write_text(yaml.safe_dump(doc))
    out = tmp_path / "cmp"
    code, output = _compare(*specs, "--suite", task, "--out", out, "--sequential")
    assert code == 0, output
    doc = json.loads((out / "comparison.json").read_text())
    seq = doc["sequential"]["suites"]["task"]
    [delta] = doc["suites"][0]["deltas"]
    assert seq["reason"] == "improvement shown" and seq["used"] <= 64
    assert delta["verdict"] == "improved" and delta["low"] > 0


def test_sequential_with_a_baseline_is_refused(tmp_path, specs, isolated_home):
    baseline = tmp_path / "baseline.json"
    baseline.write_text("{}")
    code, output = _compare(specs[1], "--against", baseline, "--suite", "x", "--sequential",
                            "--out", tmp_path / "cmp")
    assert code == 2 and "--sequential" in output and "Traceback" not in output


def test_with_a_gate_a_suite_stops_when_the_gated_arm_is_settled(tmp_path, tiny_model_dir, isolated_home):
    task = _suite_with_targets(tmp_path, tiny_model_dir, "task", "task", 300, {"system_prompt": "Be brief."})
    specs = []
    for name, extra in (("base", {}), ("same", {}), ("prompted", {"system_prompt": "Be brief."})):
        specs.append(tmp_path / f"{name}.yaml")
        doc = {"name": name, "base": str(tiny_model_dir), "batch_size": 64, **extra}
        specs[-1].write_text(yaml.safe_dump(doc))
    gate = tmp_path / "gate.yaml"
    gate.write_text(yaml.safe_dump({"arm": "prompted", "sequential": True,
                                    "suites": {"task": {"require_improvement": True}}}))
    out = tmp_path / "gated"
    code, output = _compare(*specs, "--suite", task, "--out", out, "--gate", gate)
    assert code == 0, output  # the gate file alone turns the rounds on, and the gated arm improved
    doc = json.loads((out / "comparison.json").read_text())
    seq = doc["sequential"]["suites"]["task"]
    assert seq["reason"] == "improvement shown" and seq["used"] <= 64
    same = next(d for d in doc["suites"][0]["deltas"] if d["arm"] == "same")
    assert same["sequential"]["reason"] == "undecided" and same["verdict"] != "improved"
    ungated = tmp_path / "ungated"
    code, _ = _compare(*specs, "--suite", task, "--out", ungated, "--sequential")
    every = json.loads((ungated / "comparison.json").read_text())["sequential"]["suites"]["task"]
    assert code == 0 and every["used"] > seq["used"]  # "same" never settles, so every candidate waits


def test_a_suite_that_runs_out_is_judged_at_the_final_look_and_the_gate_holds(
    tmp_path, tiny_model_dir, specs, isolated_home
):
    # 64 unchanged samples: too few for the confidence sequence to rule out an 8-point drop, enough
    # for the fixed-n interval of the final look (the demo's ifeval-lite case, in small)
    suite = _suite_with_targets(tmp_path, tiny_model_dir, "echo", "regression", 64)
    gate = tmp_path / "gate.yaml"
    gate.write_text(yaml.safe_dump({"arm": "same", "sequential": True, "forgetting_budget": 0.08}))
    out = tmp_path / "cmp"
    code, output = _compare(*specs, "--suite", suite, "--out", out, "--gate", gate)
    assert code == 0, output
    doc = json.loads((out / "comparison.json").read_text())
    seq = doc["sequential"]
    assert seq["suites"]["echo"]["used"] == 64 and seq["alpha_final"] == pytest.approx(0.04)
    first = seq["rounds"][0]["suites"]["echo"]
    assert not first["settled"] and first["intervals"]["same"][0] < -0.08  # the sequence alone: too wide
    [delta] = doc["suites"][0]["deltas"]
    assert delta["test"] == "betting_confidence_sequence+fixed_n_final"
    assert delta["sequential"]["reason"] == "forgetting ruled out at the final look"
    assert -0.08 < delta["low"] < 0 < delta["high"] < 0.08
    assert doc["gate"]["passed"] is True
