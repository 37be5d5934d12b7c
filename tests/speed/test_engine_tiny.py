"""The generation engine on the tiny random Llama: batch-invariant, equal to unbatched HF greedy."""

from __future__ import annotations

import pytest
from speed_helpers import hf_reference, hf_reference_selected

from evalkit.models.hf_loading import BasePool
from evalkit.models.loader import load_model
from evalkit.models.spec import GenerationConfig, ModelSpec

BATCHES = (1, 8, 32)


def _messages(count: int = 20) -> list[str]:
    """Prompts of different lengths that share a prefix, as user inputs."""
    return [f"Classify this. What is {i} plus {i * 3}? " + "hello world " * (i % 7) for i in range(count)]


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """The tiny model runs on one thread (see the ``single_thread`` fixture)."""


def _arm(tiny_model_dir, pool, **spec):
    # the parity checks pin float32 (bfloat16 is checked in test_engine_bf16.py)
    spec = {"dtype": "float32", **spec}
    return load_model(ModelSpec(name="t", base=str(tiny_model_dir), **spec), pool=pool)


def _prompts(arm, inputs):
    return [(f"q{i}", arm.backend.render(text)) for i, text in enumerate(inputs)]


def _texts(arm, prompts, config, batch):
    return [(g.text, g.new_tokens) for g in arm.backend.generate(prompts, config, batch_size=batch)]


@pytest.mark.parametrize("system_prompt", [None, "You are terse."])
@pytest.mark.parametrize("stop", [[], ["fox", "lazy"]])
def test_greedy_is_batch_invariant_and_unbatched_equal(tiny_model_dir, system_prompt, stop):
    arm = _arm(tiny_model_dir, BasePool(), system_prompt=system_prompt)
    prompts = _prompts(arm, _messages())
    config = GenerationConfig(max_new_tokens=24, stop=stop)
    runs = {batch: _texts(arm, prompts, config, batch) for batch in BATCHES}
    assert runs[1] == runs[8] == runs[32]
    reference = hf_reference(arm.backend, prompts, config)
    assert [text for text, _ in runs[8]] == reference
    assert arm.backend.engine_stats["prefix_tokens"] >= 0
    if stop:
        assert all(not any(s in text for s in stop) for text, _ in runs[1])


def test_adapter_arm_is_batch_invariant_and_matches_reference(tiny_model_dir, tiny_adapter_dir):
    pool = BasePool()
    base = _arm(tiny_model_dir, pool)
    tuned = _arm(tiny_model_dir, pool, adapter=str(tiny_adapter_dir))
    prompts = _prompts(tuned, _messages())
    config = GenerationConfig(max_new_tokens=16)
    runs = {batch: _texts(tuned, prompts, config, batch) for batch in BATCHES}
    assert runs[1] == runs[8] == runs[32]
    assert [text for text, _ in runs[1]] == hf_reference_selected(tuned.backend, prompts, config)
    base_texts = [text for text, _ in _texts(base, prompts, config, 8)]
    assert base_texts != [text for text, _ in runs[1]], "the adapter should change greedy outputs"
    assert base_texts == hf_reference_selected(base.backend, prompts, config)


def test_sampling_is_seeded_and_deterministic(tiny_model_dir):
    arm = _arm(tiny_model_dir, BasePool())
    prompts = _prompts(arm, _messages(12))
    config = GenerationConfig(max_new_tokens=12, temperature=0.9, top_p=0.95, seed=3)
    first = _texts(arm, prompts, config, 4)
    assert first == _texts(arm, prompts, config, 4)
    assert first == _texts(arm, prompts, config, 12)  # per-prompt generators: batch-independent too
    other_seed = _texts(arm, prompts, config.merged(seed=4), 4)
    assert other_seed != first


def test_prefix_is_reused_and_results_keep_input_order(tiny_model_dir):
    arm = _arm(tiny_model_dir, BasePool(), system_prompt="A long shared system prompt. " * 4)
    prompts = _prompts(arm, _messages(9))
    config = GenerationConfig(max_new_tokens=6)
    seen = []
    out = arm.backend.generate(prompts, config, batch_size=4, on_batch=seen.extend)
    assert [g.sample_id for g in out] == [sid for sid, _ in prompts]
    assert sorted(g.sample_id for g in seen) == sorted(sid for sid, _ in prompts)
    stats = arm.backend.engine_stats
    assert stats["prefix_tokens"] > 20
    prefill = stats["prefill_tokens"]
    arm.backend.generate(prompts, config, batch_size=4)
    assert arm.backend.engine_stats["prefix_tokens"] == 0, "second call reuses the cached prefix"
    assert arm.backend.engine_stats["prefill_tokens"] == prefill
    assert all(g.latency_s > 0 and 0 < g.new_tokens <= 6 for g in out)


def test_empty_prompt_is_an_error_not_a_crash(tiny_model_dir):
    arm = _arm(tiny_model_dir, BasePool(), chat_template="none")
    out = arm.backend.generate([("a", ""), ("b", "hello world")], GenerationConfig(max_new_tokens=3))
    assert out[0].error and out[1].error is None and out[1].new_tokens > 0


def test_chunked_prefill_gives_the_same_tokens(tiny_model_dir, monkeypatch):
    import evalkit.models.engine as engine

    arm = _arm(tiny_model_dir, BasePool(), system_prompt="A long shared system prompt. " * 6)
    prompts = _prompts(arm, _messages(10))
    config = GenerationConfig(max_new_tokens=8)
    whole = _texts(arm, prompts, config, 8)
    arm.backend._prefixes.clear()
    monkeypatch.setattr(engine, "PREFILL_TOKENS", 7)  # prefix and prompts split over many forwards
    assert _texts(arm, prompts, config, 8) == whole
