"""A run records how it computed: the resolved dtype and the torch threads (and why) in metrics.json."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from evalkit.api import run_model
from evalkit.cli import app
from evalkit.errors import ConfigError
from evalkit.models.hf_loading import BasePool
from evalkit.models.loader import load_model
from evalkit.models.precision import resolve_dtype
from evalkit.models.spec import GenerationConfig, ModelSpec, load_model_spec, with_dtype
from evalkit.notices import set_listener
from evalkit.runner.run import run_suite, score_run_dir
from evalkit.suite.loader import load_suite


def test_metrics_record_dtype_and_threads_and_keep_them_on_rescore(
    tiny_model_dir, small_suite, tmp_path, isolated_home, monkeypatch
):
    monkeypatch.setenv("EVALKIT_THREADS", "1")
    spec = ModelSpec(name="auto", base=str(tiny_model_dir), dtype="auto",
                     generation=GenerationConfig(max_new_tokens=4))
    arm = load_model(spec, pool=BasePool())
    assert arm.fingerprint_parts["dtype"] == resolve_dtype("auto")
    suite = load_suite(str(small_suite))
    heard: list[str] = []
    previous = set_listener(lambda notice: heard.append(str(notice)))
    try:  # a listener of its own: without one (no CLI imported yet) the notice is a Python warning
        run_suite(arm, suite, tmp_path / "run", cache=None)
    finally:
        set_listener(previous)
    assert any(f"computes in {resolve_dtype('auto')} (auto: " in line for line in heard), heard
    engine = json.loads((tmp_path / "run" / "metrics.json").read_text())["engine"]
    assert engine["dtype"] == resolve_dtype("auto") and engine["dtype_setting"] == "auto"
    assert (engine["threads"], engine["threads_reason"]) == (1, "EVALKIT_THREADS=1")
    assert 0 < engine["decode_rows"] <= engine["decode_steps"] * engine["batch"]  # rows fit the KV slots
    rescored = score_run_dir(tmp_path / "run", suite)
    assert rescored["engine"] == engine


def test_dtype_override_reaches_the_engine_and_the_fingerprint(
    tiny_model_dir, small_suite, tmp_path, isolated_home, monkeypatch
):
    """`--dtype` (run_model's and compare's ``dtype``) replaces the spec's; a bad value is a ConfigError."""
    monkeypatch.setenv("EVALKIT_THREADS", "1")
    spec_file = tmp_path / "tiny.yaml"
    spec_file.write_text(yaml.safe_dump({"name": "tiny", "base": str(tiny_model_dir),
                                         "generation": {"max_new_tokens": 4}}))
    plain, = run_model(spec_file, suites=[str(small_suite)], out=tmp_path / "fp32", use_cache=False)
    halved, = run_model(spec_file, suites=[str(small_suite)], out=tmp_path / "bf16", use_cache=False,
                        dtype="bfloat16")
    assert plain.metrics["engine"]["dtype"] == "float32"
    assert halved.metrics["engine"]["dtype"] == "bfloat16"
    assert plain.metrics["fingerprint"] != halved.metrics["fingerprint"]
    header = json.loads((halved.out_dir / "run.json").read_text())
    assert header["arm"]["engine"]["dtype"] == "bfloat16"  # what the report's Engine column shows
    assert with_dtype(load_model_spec(spec_file), None).dtype == "float32"
    with pytest.raises(ConfigError, match="dtype must be one of"):
        with_dtype(load_model_spec(spec_file), "half")
    result = CliRunner().invoke(app, ["run", str(spec_file), "--suite", str(small_suite), "--dtype", "half"])
    text = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 2 and "must be one of auto, float32, bfloat16, float16; got 'half'" in text
    assert "Traceback" not in result.output
