"""Compare on real runs of a tiny model: A/A stays quiet, a planted regression is caught, gate exit codes."""

from __future__ import annotations

import json
import random

import pytest
import yaml
from conftest import write_suite
from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.compare.analysis import build_comparison
from evalkit.compare.rundata import load_run_dir
from evalkit.models.loader import load_model
from evalkit.models.spec import ModelSpec
from evalkit.runner.run import run_suite, score_run_dir
from evalkit.runner.store import read_jsonl_tolerant, write_jsonl_atomic
from evalkit.suite.loader import load_suite


@pytest.fixture()
def echo_suite(tiny_model_dir, tmp_path, isolated_home):
    """200 prompts whose targets are the tiny model's own greedy outputs (so the reference passes all)."""
    rows = [
        {
            "id": f"s{i:03d}",
            "input": f"item {i} says {i * 7 % 13}",
            "target": "",
            "metadata": {"category": f"c{i % 3}"},
        }
        for i in range(200)
    ]
    spec = {
        "name": "echo",
        "kind": "regression",
        "generation": {"max_new_tokens": 4},
        "scorers": [{"name": "exact_match"}],
        "category_field": "category",
    }
    folder = write_suite(tmp_path / "suites" / "echo", rows, spec)
    model = ModelSpec(name="ref", base=str(tiny_model_dir), batch_size=50)
    run_suite(load_model(model), load_suite(str(folder)), tmp_path / "probe", cache=None)
    outputs = {
        g["sample_id"]: g["text"] for g in read_jsonl_tolerant(tmp_path / "probe" / "generations.jsonl")
    }
    for row in rows:
        row["target"] = outputs[row["id"]]
    return write_suite(folder, rows, spec)


def _arm_doc(name, kind="base"):
    return {"name": name, "kind": kind, "fingerprint": name, "spec": {}}


def test_aa_comparison_is_not_a_regression(tiny_model_dir, echo_suite, tmp_path):
    suite = load_suite(str(echo_suite))
    runs = {}
    for name, batch in (("a", 50), ("b", 7)):
        spec = ModelSpec(name=name, base=str(tiny_model_dir), batch_size=batch)
        res = run_suite(load_model(spec), suite, tmp_path / name, cache=None)
        runs[name] = load_run_dir(res.out_dir, {s.id: s for s in suite.samples}, "category")
    comparison = build_comparison("aa", [_arm_doc("a"), _arm_doc("b")], {"echo": runs})
    [delta] = comparison["suites"][0]["deltas"]
    assert delta["verdict"] != "regressed"
    assert comparison["forgetting"][0]["verdict"] != "forgetting"


def test_planted_twenty_percent_regression_is_caught(tiny_model_dir, echo_suite, tmp_path):
    suite = load_suite(str(echo_suite))
    spec = ModelSpec(name="ref", base=str(tiny_model_dir), batch_size=50)
    ref = run_suite(load_model(spec), suite, tmp_path / "ref", cache=None)
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("run.json", "generations.jsonl"):
        (bad / name).write_bytes((ref.out_dir / name).read_bytes())
    gens = read_jsonl_tolerant(bad / "generations.jsonl")
    corrupt = set(random.Random(1).sample(range(len(gens)), k=len(gens) // 5))
    for i in corrupt:
        gens[i]["text"] = gens[i]["text"] + " CORRUPTED"
    write_jsonl_atomic(bad / "generations.jsonl", gens)
    header = json.loads((bad / "run.json").read_text())
    header["arm"]["name"] = "bad"
    (bad / "run.json").write_text(json.dumps(header))
    score_run_dir(bad, suite)
    samples = {s.id: s for s in suite.samples}
    runs = {
        "ref": load_run_dir(ref.out_dir, samples, "category"),
        "bad": load_run_dir(bad, samples, "category"),
    }
    comparison = build_comparison("planted", [_arm_doc("ref"), _arm_doc("bad", "tuned")], {"echo": runs})
    [delta] = comparison["suites"][0]["deltas"]
    assert delta["verdict"] == "regressed"
    assert delta["delta"] == pytest.approx(-0.2)
    assert delta["pass_to_fail"] == 40 and delta["fail_to_pass"] == 0
    assert comparison["forgetting"][0]["verdict"] == "forgetting"
    flips = comparison["flips"]
    assert len(flips) == 40 and all(f["direction"] == "pass_to_fail" for f in flips)
    assert all(f["candidate_output"].endswith("CORRUPTED") for f in flips)


def test_cli_compare_gate_exit_codes(tiny_model_dir, echo_suite, tmp_path):
    base = tmp_path / "base.yaml"
    other = tmp_path / "other.yaml"
    base.write_text(yaml.safe_dump({"name": "base", "base": str(tiny_model_dir)}))
    other.write_text(
        yaml.safe_dump({"name": "other", "base": str(tiny_model_dir), "system_prompt": "Be brief."})
    )
    passing = tmp_path / "gate-pass.yaml"
    failing = tmp_path / "gate-fail.yaml"
    passing.write_text(yaml.safe_dump({"suites": {"echo": {"min_score": 0.0}}}))
    failing.write_text(yaml.safe_dump({"suites": {"echo": {"min_score": 1.01}}}))
    runner = CliRunner()
    args = ["compare", str(base), str(other), "--suite", str(echo_suite), "--out", str(tmp_path / "out")]
    ok = runner.invoke(app, [*args, "--gate", str(passing), "--junit", str(tmp_path / "j.xml")])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "out" / "index.html").is_file() and (tmp_path / "out" / "comparison.json").is_file()
    assert "testcase" in (tmp_path / "j.xml").read_text()
    bad = runner.invoke(app, [*args, "--gate", str(failing)])
    assert bad.exit_code == 1, bad.output
    typo = tmp_path / "gate-typo.yaml"
    typo.write_text(yaml.safe_dump({"suites": {"echo": {"min_scor": 0.5}}}))
    usage = runner.invoke(app, [*args, "--gate", str(typo)])
    assert usage.exit_code == 2
    assert "min_score" in usage.output and "Traceback" not in usage.output


def test_cli_compare_with_a_malformed_history_file_is_a_clear_error_before_any_run(tiny_model_dir, tmp_path):
    specs = []
    for name in ("base", "other"):
        specs.append(tmp_path / f"{name}.yaml")
        specs[-1].write_text(yaml.safe_dump({"name": name, "base": str(tiny_model_dir)}))
    suite = write_suite(tmp_path / "suites" / "tiny", [{"id": "a", "input": "hi", "target": "x"}],
                        {"name": "tiny", "scorers": [{"name": "exact_match"}]})
    history = tmp_path / "history.jsonl"
    history.write_text(json.dumps({"date": "2026-11-01", "suite": "tiny", "mean": 0.5}) + "\n")
    result = CliRunner().invoke(app, ["compare", *map(str, specs), "--suite", str(suite), "--out",
                                      str(tmp_path / "out"), "--history", str(history)])
    assert result.exit_code == 2, result.output
    assert "row 1 is not an evalkit history row: arm: Field required" in " ".join(result.output.split())
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()
