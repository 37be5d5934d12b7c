"""Served vLLM (``python -m vllm.entrypoints.openai.api_server`` on loopback) through ``backend: openai``.

One server holds the default model as ``base`` and a LoRA as ``tuned``
(``--enable-lora --lora-modules tuned=<dir>``), in float32. What must hold:
both arms' greedy texts and prompt token counts equal the HF backend's, the
served ``new_tokens`` is HF's plus the end-of-sequence token when the answer
ended by itself; the LoRA arm differs from the base arm; an unknown ``model:``
name stops the run with a clear error.
"""

from __future__ import annotations

import pytest
from vllm_cases import LIMIT, MAX_NEW_TOKENS, SUITE, generations
from vllm_env import VLLMServe

from evalkit.errors import ModelError
from evalkit.models.loader import load_model
from evalkit.models.spec import GenerationConfig, ModelSpec
from evalkit.runner.run import run_suite
from evalkit.suite.loader import load_suite

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def vllm_server(vllm_python, default_model_dir, lora_adapter, tmp_path_factory):
    """The server, for this module."""
    log = tmp_path_factory.mktemp("vllm") / "serve.log"
    with VLLMServe(vllm_python, default_model_dir, log, adapter=lora_adapter) as server:
        yield server


def _served(server, name: str, model: str) -> ModelSpec:
    return ModelSpec(name=name, backend="openai", base_url=server.base_url, model=model, max_concurrency=4,
                     timeout=600, generation=GenerationConfig(max_new_tokens=MAX_NEW_TOKENS))


def test_served_arms_match_hf_and_lora_differs(vllm_server, hf_reference, tmp_path):
    suite = load_suite(SUITE, limit=LIMIT)
    limit = suite.spec.generation.max_new_tokens or MAX_NEW_TOKENS  # the suite's limit wins over the arm's
    served = {}
    for name in ("base", "tuned"):
        run_suite(load_model(_served(vllm_server, name, name)), suite, tmp_path / name, cache=None)
        served[name] = generations(tmp_path / name)
        for sample, want in hf_reference[name].items():
            got = served[name][sample]
            assert got["error"] is None, got["error"]
            assert got["text"] == want["text"], (name, sample, want["text"], got["text"])
            assert got["prompt_tokens"] == want["prompt_tokens"], "the server rendered another prompt"
            ended_itself = want["new_tokens"] < limit
            assert got["new_tokens"] == want["new_tokens"] + ended_itself, "completion_tokens counts the EOS"
    ids = list(hf_reference["base"])
    assert any(served["base"][s]["text"] != served["tuned"][s]["text"] for s in ids), "the LoRA must matter"
    assert vllm_server.request_count() == 2 * LIMIT


def test_unknown_model_name_is_a_clear_error(vllm_server):
    arm = load_model(_served(vllm_server, "typo", "tunned"))
    with pytest.raises(ModelError, match="does not serve that model"):
        arm.backend.generate([("s1", arm.backend.render("hello"))], arm.spec.generation)
