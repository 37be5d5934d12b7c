"""Repeated draws cannot apply to lm-eval suites (log-likelihoods, no sampling): exit 2, nothing run."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))

from relkit import assert_usage_error, invoke  # noqa: E402


def _sampled_spec(folder: Path, model_dir: Path) -> Path:
    path = folder / "sampled.yaml"
    spec = {"name": "sampled", "base": str(model_dir), "chat_template": "none",
            "generation": {"temperature": 0.7}}
    path.write_text(yaml.safe_dump(spec))
    return path


def test_draws_on_an_lm_eval_suite_exit_2(tiny_model_dir, mc_suite, tmp_path, isolated_home):
    spec = _sampled_spec(tmp_path, tiny_model_dir)
    code, output = invoke("run", spec, "--suite", mc_suite, "--out", tmp_path / "out", "--draws", "2")
    assert_usage_error(code, output, "--draws = 2", "is an lm-eval suite", "log-likelihoods")
    assert not list((tmp_path / "out").rglob("generations.jsonl"))


def test_suite_level_draws_on_an_lm_eval_suite_exit_2(tiny_model_dir, mc_suite, tmp_path, isolated_home):
    doc = yaml.safe_load((mc_suite / "suite.yaml").read_text())
    (mc_suite / "suite.yaml").write_text(yaml.safe_dump({**doc, "samples_per_item": 3}))
    spec = _sampled_spec(tmp_path, tiny_model_dir)
    code, output = invoke("run", spec, "--suite", mc_suite, "--out", tmp_path / "out")
    assert_usage_error(code, output, "samples_per_item = 3", "is an lm-eval suite")
