"""bfloat16 in the engine: greedy outputs stay bitwise batch-invariant; thread counts change nothing."""

from __future__ import annotations

import pytest
import torch
from evalkit_testing import torch_threads
from speed_helpers import triage_inputs

from evalkit.models.hf_loading import BasePool
from evalkit.models.loader import load_model
from evalkit.models.spec import GenerationConfig, ModelSpec


def _messages(count: int = 20) -> list[str]:
    return [f"Classify this. What is {i} plus {i * 3}? " + "hello world " * (i % 7) for i in range(count)]


def _arm(base_dir, pool, dtype: str, **spec):
    return load_model(ModelSpec(name=f"t-{dtype}", base=str(base_dir), dtype=dtype, **spec), pool=pool)


def _run(arm, inputs, config, batch):
    prompts = [(f"q{i}", arm.backend.render(text)) for i, text in enumerate(inputs)]
    return [(g.text, g.new_tokens) for g in arm.backend.generate(prompts, config, batch_size=batch)]


@pytest.mark.parametrize("system_prompt", [None, "You are terse."])
def test_bf16_greedy_is_batch_invariant(tiny_model_dir, single_thread, system_prompt):
    arm = _arm(tiny_model_dir, BasePool(), "bfloat16", system_prompt=system_prompt)
    config = GenerationConfig(max_new_tokens=24)
    runs = {batch: _run(arm, _messages(), config, batch) for batch in (1, 8, 32)}
    assert runs[1] == runs[8] == runs[32]
    assert arm.backend.engine_stats["dtype"] == "bfloat16"
    assert arm.backend.loaded().model.get_input_embeddings().weight.dtype == torch.bfloat16
    assert sum(tokens for _, tokens in runs[1]) > 100


def test_bf16_lora_arm_runs_batch_invariant_and_differs_from_base(tiny_model_dir, tiny_adapter_dir,
                                                                  single_thread):
    pool = BasePool()
    base = _arm(tiny_model_dir, pool, "bfloat16")
    tuned = _arm(tiny_model_dir, pool, "bfloat16", adapter=str(tiny_adapter_dir))
    config = GenerationConfig(max_new_tokens=16)
    runs = {batch: _run(tuned, _messages(12), config, batch) for batch in (1, 8)}
    assert runs[1] == runs[8]
    assert runs[1] != _run(base, _messages(12), config, 8)
    assert base.backend.loaded() is tuned.backend.loaded()  # one bfloat16 base for both arms


def test_lora_float32_matrices_on_a_bfloat16_base_are_row_blocked(tiny_model_dir, tiny_adapter_dir):
    """peft keeps them in float32, whose MKL kernel changes with the row count too."""
    from evalkit.models.hf_loading import attach_adapter

    loaded = BasePool().get(str(tiny_model_dir), "bfloat16", "none")
    attach_adapter(loaded, str(tiny_adapter_dir))
    lora = [module for name, module in loaded.model.named_modules()
            if type(module) is torch.nn.Linear and ("lora_A" in name or "lora_B" in name)]
    assert lora and {module.weight.dtype for module in lora} == {torch.float32}
    assert all(getattr(module, "_evalkit_row_blocked", False) for module in lora)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_thread_count_does_not_change_outputs(tiny_model_dir, dtype):
    arm = _arm(tiny_model_dir, BasePool(), dtype)
    config = GenerationConfig(max_new_tokens=16)
    outputs = {}
    for threads in (1, 2):
        with torch_threads(threads):
            outputs[threads] = _run(arm, _messages(12), config, 8)
            assert arm.backend.engine_stats["threads"] == threads
            assert arm.backend.engine_stats["threads_reason"] == f"EVALKIT_THREADS={threads}"
    assert outputs[1] == outputs[2]


def test_bf16_loglikelihoods_are_close_to_float32(tiny_model_dir, single_thread):
    pool = BasePool()
    requests = [("The capital of France is", " Paris."), ("hello world the quick", " brown fox")]
    full = _arm(tiny_model_dir, pool, "float32").backend.loglikelihood(requests)
    half = _arm(tiny_model_dir, pool, "bfloat16").backend.loglikelihood(requests)
    for (lp32, _), (lp16, _) in zip(full, half):
        assert isinstance(lp16, float) and lp16 < 0
        assert lp16 == pytest.approx(lp32, rel=0.05, abs=0.05)


@pytest.mark.model
def test_bf16_default_model_is_batch_invariant(default_model_dir, threads_for_load):
    arm = _arm(default_model_dir, BasePool(), "bfloat16")
    inputs = ["What is 7 times 8?", "Name a primary color.", "List three fruits.",
              "Translate 'good morning' to French.", "Which is bigger, the sun or the moon?",
              "Spell the word 'banana' backwards, letter by letter, separated by dashes."] + triage_inputs(4)
    config = GenerationConfig(max_new_tokens=16)
    runs = {batch: _run(arm, inputs, config, batch) for batch in (1, 4, 10)}
    assert runs[1] == runs[4] == runs[10]
    assert len({text for text, _ in runs[1]}) > 5
