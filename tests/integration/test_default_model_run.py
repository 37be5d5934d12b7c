"""The real default model through the CLI: `evalkit run support-triage --limit 20`, files, metrics."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.runner.store import read_jsonl_tolerant


def test_run_support_triage_with_the_default_model(default_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_HOME", str(default_model_dir.parents[1]))  # reuse the pulled model
    spec = tmp_path / "base.yaml"
    spec.write_text(
        yaml.safe_dump({"name": "base", "base": "evalkit:smollm2-135m-instruct", "batch_size": 20})
    )
    out = tmp_path / "runs"
    args = ["run", str(spec), "--suite", "support-triage", "--limit", "20", "--out", str(out), "--no-cache"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "support-triage" in result.output and "triage_exact" in result.output
    [run_dir] = [p for p in out.glob("base-*/support-triage")]
    gens = read_jsonl_tolerant(run_dir / "generations.jsonl")
    assert len(gens) == 20 and len({g["sample_id"] for g in gens}) == 20
    assert all(g["new_tokens"] > 0 and g["error"] is None for g in gens)
    assert sum("category" in g["text"] for g in gens) >= 10  # a real instruction model attempts the JSON
    scores = read_jsonl_tolerant(run_dir / "scores.jsonl")
    assert {s["scorer"] for s in scores} == {
        "triage_exact",
        "json_schema",
        "category",
        "priority",
        "sentiment",
    }
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["schema_version"] == 1 and metrics["primary_metric"] == "triage_exact"
    main = metrics["metrics"]["triage_exact"]
    assert main["n"] == 20 and main["errors"] == 0 and 0.0 <= main["mean"] <= 1.0
    expected = sum(s["value"] for s in scores if s["scorer"] == "triage_exact") / 20
    assert abs(main["mean"] - expected) < 1e-12
    header = json.loads((run_dir / "run.json").read_text())
    assert header["arm"]["fingerprint_parts"]["weights"] == metrics["arm"]["fingerprint_parts"]["weights"]
    assert len(header["arm"]["fingerprint_parts"]["weights"]) == 64
    assert {"torch", "transformers", "peft"} <= set(metrics["versions"])
    # Re-scoring from disk gives the same metrics and never touches generations.
    before = (run_dir / "generations.jsonl").read_bytes()
    rescored = CliRunner().invoke(app, ["score", str(run_dir)])
    assert rescored.exit_code == 0, rescored.output
    assert (run_dir / "generations.jsonl").read_bytes() == before
    assert json.loads((run_dir / "metrics.json").read_text())["metrics"] == metrics["metrics"]
