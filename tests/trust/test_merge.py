"""`evalkit merge` on the real default model: the merged model loads through its spec, matches the adapter."""

from __future__ import annotations

import json

import pytest
import yaml
from trust_helpers import write_yaml
from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.merge import merge_adapter
from evalkit.models.loader import load_model
from evalkit.models.spec import GenerationConfig, load_model_spec


@pytest.mark.model
def test_merge_writes_a_loadable_model_and_check_reports_parity(
    default_home, trained_adapter, tmp_path, tiny_triage_suite
):
    # the adapter as tested: on the nf4-quantised base it was trained on
    doc = yaml.safe_load((trained_adapter / "tuned.yaml").read_text())
    tested = write_yaml(
        tmp_path / "tested.yaml",
        {
            **doc,
            "name": "tested",
            "adapter": str(trained_adapter),
            "quantization": "nf4",
            "suites": [str(tiny_triage_suite)],
        },
    )
    out = tmp_path / "merged"
    result = CliRunner().invoke(app, ["merge", str(tested), "--out", str(out), "--check"])
    assert result.exit_code == 0, result.output
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    assert (out / "tokenizer_config.json").is_file() and (out / "merge-card.json").is_file()
    spec = load_model_spec(out / "merged.yaml")
    assert spec.adapter is None and spec.quantization == "none" and spec.base == str(out)
    assert spec.intended_differences == ["base", "quantization"]
    assert spec.generation == load_model_spec(tested).generation

    comparison = json.loads((out / "check" / "comparison.json").read_text())
    [row] = comparison["merge_check"]
    assert row["suite"] == "tiny-triage" and row["n"] == 4 and 0 <= row["flip_rate"] <= 1
    assert row["flips"] == sum(
        s["outputs"]["tested"]["value"] != s["outputs"]["tested-merged"]["value"]
        for s in comparison["samples"]["tiny-triage"]
    )
    scores = comparison["suites"][0]["scores"]
    # the merged model scores within the reported flip rate of the adapter arm
    assert abs(scores["tested-merged"]["mean"] - scores["tested"]["mean"]) <= row["flip_rate"] + 1e-9
    assert "merged model vs the adapter as tested" in " ".join(result.output.split())
    assert "Merged model parity" in (out / "check" / "index.html").read_text()

    again = CliRunner().invoke(app, ["merge", str(tested), "--out", str(out)])
    assert again.exit_code == 2 and "already exists" in again.output


@pytest.mark.model
def test_merged_fp32_model_reproduces_the_fp32_adapter_arm(default_home, trained_adapter, tmp_path):
    merged = merge_adapter(trained_adapter / "tuned.yaml", tmp_path / "m")
    adapter_arm, merged_arm = load_model(trained_adapter / "tuned.yaml"), load_model(merged)
    prompts = ["Ticket 5: my parcel number 1005 has not arrived yet.", "What is the capital of France?"]
    config = GenerationConfig(max_new_tokens=12)
    outputs = []
    for arm in (adapter_arm, merged_arm):
        items = [(f"p{i}", arm.backend.render(p)) for i, p in enumerate(prompts)]
        outputs.append([g.text for g in arm.backend.generate(items, config)])
    assert outputs[0] == outputs[1]
    base_only = load_model(
        load_model_spec(trained_adapter / "tuned.yaml").model_copy(update={"adapter": None})
    )
    items = [(f"p{i}", base_only.backend.render(p)) for i, p in enumerate(prompts)]
    assert [g.text for g in base_only.backend.generate(items, config)] != outputs[1]


def test_merge_refuses_a_spec_without_adapter(tmp_path, isolated_home):
    spec = write_yaml(tmp_path / "base.yaml", {"name": "base"})
    result = CliRunner().invoke(app, ["merge", str(spec), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "merge needs a local adapter arm" in result.output
    bad = CliRunner().invoke(app, ["merge", str(spec), "--out", str(tmp_path / "m"), "--dtype", "int3"])
    assert bad.exit_code == 2 and "--dtype 'int3'" in bad.output
