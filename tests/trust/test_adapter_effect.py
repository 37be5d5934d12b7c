"""No-op adapters are caught on the real default model; a trained one passes; look-alike served arms warn."""

from __future__ import annotations

import json

import pytest
from served.fake_openai import FakeOpenAIServer, healthy_reply
from trust_helpers import untrained_lora, write_yaml
from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.models.hf_loading import BasePool
from evalkit.models.loader import load_model
from evalkit.models.spec import ModelSpec
from evalkit.suite.loader import load_suite
from evalkit.trust.adapter_effect import NOOP_MAX_LOGIT_DIFF, measure_adapter_effect
from evalkit.trust.probes import probe_inputs


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.model
def test_untrained_lora_is_an_exact_noop_and_stops_compare(
    default_home, default_model_dir, tiny_triage_suite, tmp_path
):
    adapter = untrained_lora(default_model_dir, tmp_path / "zero-lora")
    suite = load_suite(str(tiny_triage_suite))
    arm = load_model(ModelSpec(name="zero", adapter=str(adapter)), pool=BasePool())
    effect = measure_adapter_effect(arm, probe_inputs([suite]))
    assert effect["probes"] == 2 and effect["positions"] > 20
    assert effect["max_logit_diff"] == 0.0 and effect["mean_kl"] == 0.0 and effect["noop"]

    base = write_yaml(tmp_path / "base.yaml", {"name": "base"})
    tuned = write_yaml(tmp_path / "zero.yaml", {"name": "zero", "adapter": str(adapter)})
    out = tmp_path / "cmp"
    code, output = invoke("compare", base, tuned, "-s", tiny_triage_suite, "--out", out)
    assert code == 2, output
    assert (
        "arm 'zero': adapter" in output and str(adapter) in output and "does not change the model" in output
    )
    assert "largest logit difference from the base is 0" in output and "--allow-noop-adapter" in output
    assert "Traceback" not in output and not (out / "comparison.json").exists()

    code, output = invoke(
        "compare", base, tuned, "-s", tiny_triage_suite, "--out", out, "--allow-noop-adapter"
    )
    assert code == 0, output
    assert "WARNING: zero: adapter does not change the model" in output
    comparison = json.loads((out / "comparison.json").read_text())
    recorded = comparison["metadata"]["arms"]["zero"]["adapter_effect"]
    assert (
        recorded["noop"]
        and recorded["max_logit_diff"] == 0.0
        and recorded["tolerance"] == NOOP_MAX_LOGIT_DIFF
    )
    # the base and a no-op adapter generate the same text on every sample
    samples = comparison["samples"]["tiny-triage"]
    assert all(s["outputs"]["base"]["text"] == s["outputs"]["zero"]["text"] for s in samples)


@pytest.mark.model
def test_trained_adapter_passes_and_its_effect_is_recorded(
    default_home, trained_adapter, tiny_triage_suite, tmp_path
):
    base = write_yaml(tmp_path / "base.yaml", {"name": "base", "generation": {"max_new_tokens": 128}})
    out = tmp_path / "cmp"
    code, output = invoke(
        "compare", base, trained_adapter / "tuned.yaml", "-s", tiny_triage_suite, "--out", out
    )
    assert code == 0, output
    comparison = json.loads((out / "comparison.json").read_text())
    effect = comparison["metadata"]["arms"]["tuned"]["adapter_effect"]
    assert (
        not effect["noop"] and effect["max_logit_diff"] > 100 * NOOP_MAX_LOGIT_DIFF and effect["mean_kl"] > 0
    )
    tuned = next(a for a in comparison["arms"] if a["name"] == "tuned")
    provenance = tuned["trust"]["provenance"]
    assert provenance["rank"] == 16 and provenance["base_matches"] is True and len(provenance["sha256"]) == 64
    assert provenance["train_data"]["rows"] == 8
    html = (out / "index.html").read_text()
    assert "Adapter effect" in html and f"{effect['max_logit_diff']:.3g}" in html


def _served_suite(tmp_path):
    folder = tmp_path / "suites" / "echo"
    folder.mkdir(parents=True)
    rows = [{"id": f"e{i}", "input": f"Say {i}", "target": f"Sure: Say {i}"} for i in range(3)]
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    write_yaml(
        folder / "suite.yaml", {"name": "echo", "data": "data.jsonl", "scorers": [{"name": "exact_match"}]}
    )
    return folder


@pytest.mark.parametrize("serves_adapter", [False, True])
def test_served_tuned_arm_that_answers_like_the_base_is_flagged(tmp_path, isolated_home, serves_adapter):
    def behaviour(request):
        if serves_adapter and request.body.get("model") == "tuned":
            reply = healthy_reply(request)
            reply.body["choices"][0]["message"]["content"] = "TUNED " + request.text
            return reply
        return None  # the same answer whatever the model name: the server ignores the adapter

    suite = _served_suite(tmp_path)
    (tmp_path / "adapter").mkdir()
    with FakeOpenAIServer(behaviour) as server:
        common = {"backend": "openai", "base_url": server.base_url}
        base = write_yaml(tmp_path / "base.yaml", {"name": "base", "model": "base", **common})
        tuned = write_yaml(
            tmp_path / "tuned.yaml", {"name": "tuned", "model": "tuned", "adapter": "adapter", **common}
        )
        code, output = invoke("compare", base, tuned, "-s", suite, "--out", tmp_path / "cmp")
    assert code == 0, output
    comparison = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    probe = comparison["metadata"]["arms"]["tuned"]["served_probe"]
    assert probe["probes"] == 2
    warning = "WARNING: served arm tuned (model 'tuned') gave exactly the reference's greedy outputs"
    html = (tmp_path / "cmp" / "index.html").read_text()
    if serves_adapter:
        assert probe["identical"] == 0 and not probe["all_identical"] and warning not in output
    else:
        assert probe["identical"] == 2 and probe["all_identical"]
        assert warning in output and "gave exactly the reference" in html


def test_a_remembered_measurement_does_not_load_the_model(tiny_model_dir, tmp_path, isolated_home):
    from evalkit_testing import make_random_lora

    from evalkit.trust.effect_cache import adapter_effect

    adapter = make_random_lora(tiny_model_dir, tmp_path / "lora")
    spec = ModelSpec(name="t", base=str(tiny_model_dir), adapter=str(adapter), chat_template="none")
    first = adapter_effect(load_model(spec, pool=BasePool()), ["Say hello to the sea."])
    assert not first["noop"] and "cached" not in first
    again_arm = load_model(spec, pool=BasePool())
    again = adapter_effect(again_arm, ["Say hello to the sea."])
    assert again == {**first, "cached": True} and again_arm.backend._loaded is None  # nothing loaded
    other = adapter_effect(load_model(spec, pool=BasePool()), ["Another prompt entirely."])
    assert "cached" not in other  # other probe prompts: measured afresh
    (isolated_home / "adapter-effects.json").write_text("{not json")
    assert "cached" not in adapter_effect(load_model(spec, pool=BasePool()), ["Say hello to the sea."])
