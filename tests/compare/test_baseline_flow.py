"""Baselines: save, refuse overwrite, compare against, refuse mismatches, bless, history."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.compare.baseline import load_baseline
from evalkit.errors import DataError


@pytest.fixture()
def specs(tiny_model_dir, tmp_path):
    base = tmp_path / "base.yaml"
    other = tmp_path / "other.yaml"
    base.write_text(yaml.safe_dump({"name": "base", "base": str(tiny_model_dir)}))
    other.write_text(yaml.safe_dump({"name": "other", "base": str(tiny_model_dir), "system_prompt": "Hi."}))
    return base, other


def test_baseline_round_trip(specs, small_suite, tmp_path, isolated_home):
    base, other = specs
    runner = CliRunner()
    out = tmp_path / "cmp"
    res = runner.invoke(
        app, ["compare", str(base), str(other), "--suite", str(small_suite), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    bdir = tmp_path / "baselines"
    args = ["baseline", "save", str(out), "--arm", "base", "--name", "b1", "--directory", str(bdir)]
    assert runner.invoke(app, args).exit_code == 0
    doc = load_baseline(bdir / "b1.json")
    assert set(doc["suites"]) == {"small"} and len(doc["suites"]["small"]["samples"]) == 12
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "bless" in again.output
    history = tmp_path / "history.jsonl"
    against = runner.invoke(
        app,
        [
            "compare",
            str(base),
            "--against",
            str(bdir / "b1.json"),
            "--suite",
            str(small_suite),
            "--out",
            str(tmp_path / "night"),
            "--history",
            str(history),
        ],
    )
    assert against.exit_code == 0, against.output
    comparison = json.loads((tmp_path / "night" / "comparison.json").read_text())
    assert comparison["arms"][0]["name"] == "baseline:b1"
    [delta] = comparison["suites"][0]["deltas"]
    assert delta["delta"] == 0 and delta["verdict"] != "regressed"
    [row] = comparison["history"]  # one suite x the candidate arm; the baseline is not history
    assert row["suite"] == "small" and row["arm"] == "base" and row["regression"] is False
    mismatch = runner.invoke(
        app,
        [
            "compare",
            str(other),
            "--against",
            str(bdir / "b1.json"),
            "--suite",
            str(small_suite),
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert mismatch.exit_code == 2 and "fingerprint" in mismatch.output
    allowed = runner.invoke(
        app,
        [
            "compare",
            str(other),
            "--against",
            str(bdir / "b1.json"),
            "--suite",
            str(small_suite),
            "--out",
            str(tmp_path / "y"),
            "--allow-mismatch",
        ],
    )
    assert allowed.exit_code == 0, allowed.output
    bless = ["baseline", "bless", str(out), "--arm", "other", "--name", "b1", "--directory", str(bdir)]
    assert runner.invoke(app, bless).exit_code == 0
    assert load_baseline(bdir / "b1.json")["blessed_over"]["fingerprint"] == doc["arm"]["fingerprint"]


def test_corrupt_baseline_is_a_clear_error(tmp_path):
    bad = tmp_path / "b.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="corrupt baseline"):
        load_baseline(bad)
    bad.write_text(json.dumps({"hello": 1}))
    with pytest.raises(DataError, match="not an evalkit baseline"):
        load_baseline(bad)
