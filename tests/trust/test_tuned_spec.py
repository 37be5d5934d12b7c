"""The tuned.yaml written by `evalkit train` decodes like the arm it is compared with."""

from __future__ import annotations

import pytest
from trust_helpers import write_yaml

from evalkit.errors import ConfigError
from evalkit.train.card import tuned_spec
from evalkit.train.spec import load_train_spec


def test_tuned_spec_copies_the_reference_evaluation_settings(tmp_path):
    write_yaml(
        tmp_path / "base.yaml",
        {
            "name": "base",
            "dtype": "bfloat16",
            "suites": ["support-triage"],
            "generation": {"max_new_tokens": 96, "stop": ["\n\n"]},
        },
    )
    (tmp_path / "d.jsonl").write_text('{"prompt": "a", "completion": "b"}\n')
    spec = load_train_spec(
        write_yaml(tmp_path / "t.yaml", {"data": {"path": "d.jsonl"}, "reference": "base.yaml"})
    )
    doc = tuned_spec(spec)
    assert doc["generation"]["max_new_tokens"] == 96 and doc["generation"]["stop"] == ["\n\n"]
    assert (
        doc["dtype"] == "bfloat16" and doc["quantization"] == "none" and doc["suites"] == ["support-triage"]
    )
    plain = load_train_spec(
        write_yaml(tmp_path / "p.yaml", {"data": {"path": "d.jsonl"}, "generation": {"max_new_tokens": 12}})
    )
    assert tuned_spec(plain)["generation"]["max_new_tokens"] == 12 and "dtype" not in tuned_spec(plain)


def test_reference_and_generation_together_or_a_missing_reference_are_errors(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"prompt": "a", "completion": "b"}\n')
    both = write_yaml(
        tmp_path / "t.yaml",
        {"data": {"path": "d.jsonl"}, "reference": "base.yaml", "generation": {"max_new_tokens": 12}},
    )
    with pytest.raises(ConfigError, match="either 'generation' or 'reference'"):
        load_train_spec(both)
    missing = write_yaml(tmp_path / "m.yaml", {"data": {"path": "d.jsonl"}, "reference": "nope.yaml"})
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        load_train_spec(missing)
