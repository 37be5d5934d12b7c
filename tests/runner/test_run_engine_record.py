"""A run records how it computed: the resolved dtype and the torch threads (and why) in metrics.json."""

from __future__ import annotations

import json

from evalkit.models.hf_loading import BasePool
from evalkit.models.loader import load_model
from evalkit.models.precision import resolve_dtype
from evalkit.models.spec import GenerationConfig, ModelSpec
from evalkit.runner.run import run_suite, score_run_dir
from evalkit.suite.loader import load_suite


def test_metrics_record_dtype_and_threads_and_keep_them_on_rescore(
    tiny_model_dir, small_suite, tmp_path, isolated_home, monkeypatch, capsys
):
    monkeypatch.setenv("EVALKIT_THREADS", "1")
    spec = ModelSpec(name="auto", base=str(tiny_model_dir), dtype="auto",
                     generation=GenerationConfig(max_new_tokens=4))
    arm = load_model(spec, pool=BasePool())
    assert arm.fingerprint_parts["dtype"] == resolve_dtype("auto")
    suite = load_suite(str(small_suite))
    run_suite(arm, suite, tmp_path / "run", cache=None)
    assert f"computes in {resolve_dtype('auto')} (auto: " in capsys.readouterr().err
    engine = json.loads((tmp_path / "run" / "metrics.json").read_text())["engine"]
    assert engine["dtype"] == resolve_dtype("auto") and engine["dtype_setting"] == "auto"
    assert (engine["threads"], engine["threads_reason"]) == (1, "EVALKIT_THREADS=1")
    assert engine["decode_rows"] > 0
    rescored = score_run_dir(tmp_path / "run", suite)
    assert rescored["engine"] == engine
