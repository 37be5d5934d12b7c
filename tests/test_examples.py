"""Every shipped example config validates, and the demo's arms agree where a comparison needs them to."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from evalkit.compare.gate import load_gate
from evalkit.models.spec import load_model_spec
from evalkit.suite.loader import find_suite_dir
from evalkit.train.spec import load_train_spec

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MODEL_SPECS = ["base.yaml", "prompt_only.yaml", "tuned.yaml", "nightly.yaml", "served/base.yaml",
               "served/tuned.yaml"]


@pytest.fixture()
def examples(tmp_path) -> Path:
    """A copy of examples/ beside a runs/demo-adapter folder, as after `make demo` (specs check it)."""
    copy = tmp_path / "examples"
    shutil.copytree(EXAMPLES, copy)
    (tmp_path / "runs" / "demo-adapter").mkdir(parents=True)
    return copy


@pytest.mark.parametrize("name", MODEL_SPECS)
def test_model_specs_validate_and_name_shipped_suites(examples, name):
    spec = load_model_spec(examples / name)
    for suite in spec.suites:
        assert (find_suite_dir(suite) / "suite.yaml").is_file(), suite


def test_arms_of_the_demo_differ_only_where_intended(examples):
    names = ("base.yaml", "prompt_only.yaml", "tuned.yaml")
    base, prompt, tuned = (load_model_spec(examples / n) for n in names)
    assert base.base == prompt.base == tuned.base
    assert base.chat_template == prompt.chat_template == tuned.chat_template
    assert base.generation == prompt.generation == tuned.generation
    assert base.system_prompt is None and tuned.system_prompt is None and prompt.system_prompt
    assert base.adapter is None and prompt.adapter is None
    assert Path(tuned.adapter).resolve() == (examples.parent / "runs" / "demo-adapter").resolve()


def test_train_spec_and_gates_validate():
    train = load_train_spec(EXAMPLES / "train" / "support-triage.yaml")
    assert train.quantization == "nf4" and train.training.max_steps == 16
    assert Path(train.data.path).is_file()
    for gate in ("gate.yaml", "gate-nightly.yaml"):
        assert load_gate(EXAMPLES / gate) is not None


def test_ci_workflow_is_valid_yaml_with_the_gate_step():
    workflow = yaml.safe_load((EXAMPLES / "ci" / "evalkit.yml").read_text())
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    assert any("evalkit compare" in str(step.get("run", "")) and "--gate" in str(step.get("run", ""))
               for step in steps)
