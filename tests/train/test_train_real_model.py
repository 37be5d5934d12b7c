"""QLoRA (nf4, CPU) on the real default model: a few steps change its greedy answers; the adapter loads."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml
from train_helpers import chat_rows, write_jsonl, write_spec

from evalkit.models.hf_loading import BasePool
from evalkit.models.loader import load_model
from evalkit.models.registry import resolve_base, weights_fingerprint
from evalkit.models.spec import GenerationConfig, ModelSpec
from evalkit.train.spec import load_train_spec
from evalkit.train.trainer import train

PROMPTS = ["Classify: ticket 99 about my refund", "What is the capital of France?", "Say hello."]


@pytest.mark.model
def test_nf4_training_changes_outputs_and_the_adapter_loads(default_home, tmp_path):
    data = write_jsonl(tmp_path / "data.jsonl", chat_rows(12))
    spec_path = write_spec(tmp_path, {
        "name": "tuned", "base": "evalkit:smollm2-135m-instruct", "data": {"path": "data.jsonl"},
        "validation": None, "system_prompt": "Answer with JSON only.",
        "output_dir": str(tmp_path / "adapter"),
        "generation": {"max_new_tokens": 12},
        "training": {"max_steps": 3, "batch_size": 4, "lr": 3e-3, "warmup_ratio": 0.0, "save_steps": 3,
                     "logging_steps": 1}})
    result = train(load_train_spec(spec_path))
    out = result.output_dir

    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    card = json.loads((out / "evalkit-card.json").read_text())
    assert card["base_fingerprint"] == weights_fingerprint(resolve_base("evalkit:smollm2-135m-instruct"))
    assert card["data"]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert card["data"]["train_rows"] == 12 and card["data"]["validation_rows"] == 0
    assert card["train_spec"]["quantization"] == "nf4" and card["settings"]["precision"] in ("bf16", "fp32")
    assert card["settings"]["packing"] is True
    assert card["settings"]["gradient_checkpointing"] is True
    assert {"torch", "transformers", "peft", "trl", "bitsandbytes"} <= set(card["versions"])
    assert len(card["loss_history"]["train"]) == 3 and card["stats"]["tokens_seen"] > 0
    assert card["stats"]["train_examples_per_s"] > 0 and card["stats"]["wall_time_s"] > 0
    tuned_doc = yaml.safe_load((out / "tuned.yaml").read_text())
    assert tuned_doc["adapter"] == "." and tuned_doc["system_prompt"] == "Answer with JSON only."
    assert tuned_doc["base"] == "evalkit:smollm2-135m-instruct"
    assert tuned_doc["generation"]["max_new_tokens"] == 12

    pool = BasePool()
    tuned = load_model(out / "tuned.yaml", pool=pool)
    base = load_model(ModelSpec(name="base", system_prompt="Answer with JSON only.",
                                generation=GenerationConfig(max_new_tokens=12)), pool=pool)
    items = [(f"p{i}", tuned.backend.render(p)) for i, p in enumerate(PROMPTS)]
    config = GenerationConfig(max_new_tokens=12)
    tuned_out = [g.text for g in tuned.backend.generate(items, config)]
    base_out = [g.text for g in base.backend.generate(items, config)]
    assert tuned.fingerprint != base.fingerprint
    assert sum(t != b for t, b in zip(tuned_out, base_out)) >= 2, (tuned_out, base_out)
    assert any('"category"' in t for t in tuned_out), tuned_out


@pytest.mark.model
def test_4bit_layers_keep_their_gradient_after_a_validation_pass(default_home):
    import bitsandbytes as bnb
    import torch

    from evalkit.train.trainer import load_training_model

    model = load_training_model(resolve_base("evalkit:smollm2-135m-instruct"), "nf4", cuda=False,
                                precision="bf16", local_rank=0, gradient_checkpointing=False)
    layer = next(m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit))
    x = torch.randn(3, layer.in_features)
    layer.eval()
    with torch.no_grad():
        before = layer(x)
    layer.train()
    x.requires_grad_(True)
    after = layer(x)
    after.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # the gradient reaches the layer's input
    torch.testing.assert_close(after.detach(), before, rtol=2e-2, atol=2e-2)
