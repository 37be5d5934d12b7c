"""Greedy parity: the default model behind real ``transformers serve`` vs the HF backend in-process.

What must hold (asserted): the same text for every sample, hence the same
scores; the same prompt token count (the server renders the same chat template,
including SmolLM2's default system prompt when the spec gives none, and adds no
BOS or other special tokens); the same for an explicit system prompt and for
plain-text prompts on ``/v1/completions``.

Real differences the server introduces (asserted, and documented in docs/scale.md):

* ``usage.completion_tokens`` counts the end-of-sequence token the server
  generated (``<|im_end|>``), while the HF backend counts tokens up to, not
  including, it: served ``new_tokens`` is HF's + 1 when the answer ended by
  itself, equal when it hit ``max_new_tokens``.
* The server is asked for (and reports) no log-probabilities, so log-likelihood
  suites must run on the HF backend.
"""

from __future__ import annotations

import json

import pytest

from evalkit.errors import EvalkitError
from evalkit.models.loader import load_model
from evalkit.models.spec import GenerationConfig, ModelSpec
from evalkit.runner.run import run_suite
from evalkit.suite.loader import load_suite

pytestmark = [pytest.mark.model, pytest.mark.usefixtures("one_torch_thread")]
LIMIT = 12


def _specs(served_model, default_model_dir, **common) -> tuple[ModelSpec, ModelSpec]:
    hf = ModelSpec(name="hf", backend="hf", base=str(default_model_dir), chat_template="auto", **common)
    served = ModelSpec(
        name="served", backend="openai", base_url=served_model.base_url, model=served_model.model,
        max_concurrency=2, timeout=300, **common,
    )
    return hf, served


def _rows(out) -> dict[str, dict]:
    lines = (out / "generations.jsonl").read_text().splitlines()
    return {r["sample_id"]: r for r in map(json.loads, lines)}


def _assert_same_generations(hf_gens, served_gens, max_new_tokens: int) -> None:
    for hf, served in zip(hf_gens, served_gens):
        assert served["error"] is None, served["error"]
        assert served["text"] == hf["text"], (hf["sample_id"], hf["text"], served["text"])
        assert served["prompt_tokens"] == hf["prompt_tokens"], "the server rendered a different prompt"
        ended_itself = hf["new_tokens"] < max_new_tokens
        assert served["new_tokens"] == hf["new_tokens"] + ended_itself, "completion_tokens counts the EOS"


def test_suite_outputs_and_scores_match_hf(served_model, default_model_dir, tmp_path):
    suite = load_suite("general-knowledge", limit=LIMIT)
    hf_spec, served_spec = _specs(served_model, default_model_dir, generation=GenerationConfig(temperature=0))
    hf_arm, served_arm = load_model(hf_spec), load_model(served_spec)
    sample = suite.render_prompt(suite.samples[0])
    assert "You are a helpful AI assistant named SmolLM" in hf_arm.backend.render(sample)
    assert json.loads(served_arm.backend.render(sample)) == [{"role": "user", "content": sample}]

    hf = run_suite(hf_arm, suite, tmp_path / "hf", cache=None)
    served = run_suite(served_arm, suite, tmp_path / "served", cache=None)
    hf_rows, served_rows = _rows(tmp_path / "hf"), _rows(tmp_path / "served")
    ids = [s.id for s in suite.samples]
    _assert_same_generations([hf_rows[i] for i in ids], [served_rows[i] for i in ids], 24)
    assert served.metrics["metrics"] == hf.metrics["metrics"]
    assert served.metrics["generation"]["errors"] == 0
    assert all(served_rows[i]["latency_s"] > 0 for i in ids)


@pytest.mark.parametrize("chat_template", ["auto", "none"])
def test_system_prompt_and_plain_text_match_hf(served_model, default_model_dir, chat_template):
    hf_spec, served_spec = _specs(served_model, default_model_dir, system_prompt="Answer in one word.")
    hf_spec = hf_spec.model_copy(update={"chat_template": chat_template})
    served_spec = served_spec.model_copy(update={"chat_template": chat_template})
    hf_arm, served_arm = load_model(hf_spec), load_model(served_spec)
    inputs = ["What colour is the sky on a clear day?", "Name the largest ocean on Earth."]
    config = GenerationConfig(max_new_tokens=12)
    hf_gens, served_gens = (
        arm.backend.generate([(f"q{i}", arm.backend.render(x)) for i, x in enumerate(inputs)], config)
        for arm in (hf_arm, served_arm)
    )
    _assert_same_generations([g.to_dict() for g in hf_gens], [g.to_dict() for g in served_gens], 12)


def test_loglikelihood_is_refused_with_a_pointer_to_hf(served_model, default_model_dir):
    _, served_spec = _specs(served_model, default_model_dir)
    backend = load_model(served_spec).backend
    with pytest.raises(EvalkitError, match="needs log-probabilities.*run it with the HF backend"):
        backend.loglikelihood([("The capital of France is", " Paris")])
