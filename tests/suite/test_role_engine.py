"""A suite's role (task / regression / general) is apart from its engine (native / lm-eval)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evalkit.config import load_config
from evalkit.errors import ConfigError
from evalkit.suite.catalog import describe
from evalkit.suite.spec import SuiteSpec

SHIPPED = Path(__file__).resolve().parents[2] / "evalkit" / "suites"
LM_EVAL = {"tasks": ["arc_easy"]}


def _spec(tmp_path, **fields) -> SuiteSpec:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({"name": "s", **fields}), encoding="utf-8")
    return load_config(SuiteSpec, path)


def test_the_old_kind_lm_eval_loads_as_a_general_suite_on_the_lm_eval_engine(tmp_path):
    spec = _spec(tmp_path, kind="lm-eval", lm_eval=LM_EVAL)
    assert (spec.kind, spec.engine, spec.label) == ("general", "lm-eval", "lm-eval")


def test_an_lm_eval_task_can_be_the_task_under_test(tmp_path):
    spec = _spec(tmp_path, kind="task", lm_eval=LM_EVAL)  # the lm_eval section implies the engine
    assert (spec.kind, spec.engine, spec.label) == ("task", "lm-eval", "task")
    regression = _spec(tmp_path, kind="regression", engine="lm-eval", lm_eval=LM_EVAL)
    assert (regression.kind, regression.label, regression.primary_metric) == ("regression",) * 2 + ("acc",)


def test_native_suites_keep_their_role_as_label(tmp_path):
    spec = _spec(tmp_path, kind="general", data="d.jsonl", scorers=[{"name": "exact_match"}])
    assert (spec.kind, spec.engine, spec.label) == ("general", "native", "general")


def test_engine_and_lm_eval_section_must_agree(tmp_path):
    with pytest.raises(ConfigError, match="engine 'lm-eval' needs an 'lm_eval:' section"):
        _spec(tmp_path, engine="lm-eval")
    with pytest.raises(ConfigError, match="'lm_eval:' section needs engine: lm-eval"):
        _spec(tmp_path, engine="native", lm_eval=LM_EVAL, data="d.jsonl", scorers=[{"name": "exact_match"}])
    with pytest.raises(ConfigError, match="kind"):
        _spec(tmp_path, kind="nonsense", data="d.jsonl", scorers=[{"name": "exact_match"}])


def test_shipped_lm_eval_suites_still_list_as_lm_eval():
    entry = describe(SHIPPED / "gk-mc", "shipped")
    spec = load_config(SuiteSpec, SHIPPED / "gk-mc" / "suite.yaml")
    assert entry.kind == "lm-eval" and (spec.kind, spec.engine) == ("general", "lm-eval")
