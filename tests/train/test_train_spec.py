"""TrainSpec: strict keys with located errors, path resolution, per-device defaults."""

from __future__ import annotations

import pytest
from train_helpers import write_spec

from evalkit.errors import ConfigError
from evalkit.train.spec import TrainingSettings, TrainSpec, load_train_spec, resolve_device_defaults


def test_unknown_keys_are_errors_with_file_line_and_suggestion(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("data:\n  path: d.jsonl\ntrainig:\n  epochs: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_train_spec(path)
    assert f"{path}:3: trainig: unknown key 'trainig' (did you mean 'training'?)" in err.value.message
    path.write_text("data:\n  path: d.jsonl\ntraining:\n  epoch: 1\n  lr: 1e-4\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"t\.yaml:4: training\.epoch: unknown key 'epoch' \(did you mean "
                                          r"'epochs'\?\)"):
        load_train_spec(path)


@pytest.mark.parametrize(("doc", "fragment"), [
    ({"data": {"path": "a.jsonl", "hub": "org/set"}}, "exactly one of 'path'"),
    ({}, "data: required key is missing"),
    ({"data": {"path": "a.jsonl"}, "quantization": "fp8"}, "quantization"),
    ({"data": {"path": "a.jsonl"}, "lora": {"target_modules": []}}, "at least one module name"),
    ({"data": {"path": "a.jsonl"}, "validation": {"fraction": 0.1, "path": "v.jsonl"}}, "not both"),
    ({"data": {"path": "a.jsonl"}, "training": {"optimizer": "adam"}}, "training.optimizer"),
])
def test_invalid_specs(tmp_path, doc, fragment):
    with pytest.raises(ConfigError) as err:
        load_train_spec(write_spec(tmp_path, doc))
    assert fragment in err.value.message


def test_paths_resolve_against_the_spec_folder_and_output_against_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cfg" / "tmpl.jinja").parent.mkdir()
    (tmp_path / "cfg" / "tmpl.jinja").write_text("{{ messages }}", encoding="utf-8")
    path = write_spec(tmp_path / "cfg", {"data": {"path": "d.jsonl"}, "validation": {"path": "v.jsonl"},
                                         "chat_template": "tmpl.jinja"}, name="triage.yaml")
    spec = load_train_spec(path)
    assert spec.data.path == str(tmp_path / "cfg" / "d.jsonl")
    assert spec.validation.path == str(tmp_path / "cfg" / "v.jsonl")
    assert spec.chat_template == str(tmp_path / "cfg" / "tmpl.jinja")
    assert spec.output_dir == str(tmp_path / "adapters" / "triage") and spec.name == "triage"


def test_defaults_and_device_choices():
    spec = TrainSpec.model_validate({"data": {"path": "x.jsonl"}})
    assert spec.quantization == "nf4" and spec.lora.r == 16 and spec.lora.alpha == 32
    assert spec.lora.target_modules == "all-linear" and spec.validation.fraction == 0.1
    assert spec.training.batch_size == 8 and spec.training.gradient_checkpointing is None
    assert resolve_device_defaults(spec.training, cuda=False).gradient_checkpointing is True
    assert resolve_device_defaults(spec.training, cuda=True).gradient_checkpointing is True
    forced = TrainingSettings(gradient_checkpointing=False)
    assert resolve_device_defaults(forced, cuda=True).gradient_checkpointing is False
