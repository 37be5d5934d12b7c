"""The engine on other supported decoder families (tiny random Qwen2 and Qwen3), against HF greedy."""

from __future__ import annotations

import shutil

import pytest
from speed_helpers import hf_reference_selected

from evalkit.models.hf_loading import BasePool
from evalkit.models.kv_attention import supports
from evalkit.models.loader import load_model
from evalkit.models.spec import GenerationConfig, ModelSpec


def _tiny(kind: str, tokenizer_dir, folder):
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    classes = {"qwen2": (Qwen2Config, Qwen2ForCausalLM), "qwen3": (Qwen3Config, Qwen3ForCausalLM)}
    config_class, model_class = classes[kind]
    torch.manual_seed(1)
    config = config_class(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, max_position_embeddings=512, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id, tie_word_embeddings=False,
    )
    model = model_class(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"):
        if (tokenizer_dir / name).is_file():
            shutil.copy(tokenizer_dir / name, folder / name)
    return folder


@pytest.mark.parametrize("kind", ["qwen2", "qwen3"])
def test_other_architectures_match_unbatched_greedy(kind, tiny_model_dir, tmp_path, single_thread):
    folder = _tiny(kind, tiny_model_dir, tmp_path / kind)
    arm = load_model(ModelSpec(name=kind, base=str(folder), dtype="float32"), pool=BasePool())
    assert supports(arm.backend.loaded().model)
    prompts = [(f"q{i}", arm.backend.render(f"What is {i} plus {i * 5}? " + "hello " * i)) for i in range(10)]
    config = GenerationConfig(max_new_tokens=12)
    runs = [[g.text for g in arm.backend.generate(prompts, config, batch_size=b)] for b in (1, 4, 10)]
    assert runs[0] == runs[1] == runs[2]
    assert runs[0] == hf_reference_selected(arm.backend, prompts, config)
