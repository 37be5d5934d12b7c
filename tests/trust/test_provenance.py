"""Adapter provenance in the report; an adapter recorded for another base is refused unless allowed."""

from __future__ import annotations

import json

from evalkit_testing import make_random_lora
from trust_helpers import write_yaml
from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.models.registry import weights_fingerprint


def _arms(tiny_model_dir, small_suite, tmp_path, fingerprint):
    adapter = make_random_lora(tiny_model_dir, tmp_path / "lora", rank=4)
    (adapter / "evalkit-card.json").write_text(
        json.dumps(
            {
                "format": 1,
                "base": "some/other-model",
                "base_fingerprint": fingerprint,
                "step": 7,
                "data": {
                    "source": "hub:org/data[train]",
                    "format": "alpaca",
                    "sha256": "ab" * 32,
                    "rows": 99,
                },
            }
        )
    )
    base = write_yaml(tmp_path / "base.yaml", {"name": "base", "base": str(tiny_model_dir)})
    tuned = write_yaml(
        tmp_path / "tuned.yaml", {"name": "tuned", "base": str(tiny_model_dir), "adapter": str(adapter)}
    )
    return ["compare", str(base), str(tuned), "-s", str(small_suite), "--out", str(tmp_path / "cmp")]


def test_base_mismatch_is_refused_then_allowed_and_shown(
    tiny_model_dir, small_suite, tmp_path, isolated_home
):
    args = _arms(tiny_model_dir, small_suite, tmp_path, "f" * 64)
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2, refused.output
    assert "was trained on base 'some/other-model' (weights ffffffffffff)" in refused.output
    allowed = CliRunner().invoke(app, [*args, "--allow-base-mismatch"])
    assert allowed.exit_code == 0, allowed.output
    flat = " ".join(allowed.output.split())
    assert "training data 'hub:org/data[train]' (from its adapter card) is not a local file" in flat
    comparison = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    provenance = next(a for a in comparison["arms"] if a["name"] == "tuned")["trust"]["provenance"]
    assert provenance["base_matches"] is False and provenance["rank"] == 4
    assert provenance["target_modules"] == ["q_proj", "v_proj"] and provenance["train_step"] == 7
    assert provenance["config_base"] == str(tiny_model_dir)
    html = (tmp_path / "cmp" / "index.html").read_text()
    assert "≠ loaded base" in html and provenance["sha256"] in html and "99 rows" in html


def test_matching_base_is_marked(tiny_model_dir, small_suite, tmp_path, isolated_home):
    args = _arms(tiny_model_dir, small_suite, tmp_path, weights_fingerprint(str(tiny_model_dir)))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    html = (tmp_path / "cmp" / "index.html").read_text()
    assert "matches the loaded base" in html
