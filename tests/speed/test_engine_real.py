"""The engine on the real default model: token-for-token equal across batch sizes and to unbatched greedy."""

from __future__ import annotations

import pytest
from speed_helpers import hf_reference_selected, triage_inputs

from evalkit.models.hf_loading import BasePool
from evalkit.models.loader import load_model
from evalkit.models.spec import GenerationConfig, ModelSpec

pytestmark = [pytest.mark.model, pytest.mark.usefixtures("threads_for_load")]

CONFIG = GenerationConfig(max_new_tokens=8, stop=["}", "\n\n", "."])
QUESTIONS = [
    "What is 7 times 8?",
    "Name a primary color.",
    "Translate 'good morning' to French.",
    "Write one word that rhymes with cat.",
    "What is the capital of Italy? Answer in one word.",
    "Is water wet? Explain briefly, in a single short sentence please.",
    "List three fruits.",
    "How many legs does a spider have?",
    "Complete the sentence: The quick brown fox",
    "What comes after Monday?",
    "Give me a synonym for happy.",
    "Spell the word 'banana' backwards, letter by letter, separated by dashes.",
    "What is 12 plus 30?",
    "Say hello in Spanish.",
    "Which is bigger, the sun or the moon?",
    "Finish this: Roses are red,",
]


def _inputs(count: int) -> list[str]:
    """Questions of different lengths plus a few long support-triage prompts (shared template head)."""
    return (QUESTIONS + triage_inputs(4))[:count]


def _check(arm, count: int, batches=(1, 8, 32)) -> list[str]:
    prompts = [(f"s{i}", arm.backend.render(text)) for i, text in enumerate(_inputs(count))]
    runs = {}
    for batch in batches:
        outputs = arm.backend.generate(prompts, CONFIG, batch_size=batch)
        runs[batch] = [(g.text, g.new_tokens) for g in outputs]
        assert arm.backend.engine_stats["shared_prefix"] > 5  # chat header (+ system prompt) shared
    first = runs[batches[0]]
    for batch in batches[1:]:
        assert runs[batch] == first, f"batch {batch} differs from batch {batches[0]}"
    assert [text for text, _ in first] == hf_reference_selected(arm.backend, prompts, CONFIG)
    return [text for text, _ in first]


def test_base_arm_equals_unbatched_greedy(default_model_dir):
    arm = load_model(ModelSpec(name="base", base=str(default_model_dir), dtype="float32"), pool=BasePool())
    texts = _check(arm, 20)
    assert len(set(texts)) > 10


def test_prompted_adapter_arm_equals_unbatched_greedy(default_model_dir, default_adapter_dir):
    spec = ModelSpec(
        name="tuned",
        base=str(default_model_dir),
        dtype="float32",
        adapter=str(default_adapter_dir),
        system_prompt="You are a terse assistant. Answer in as few words as possible.",
    )
    _check(load_model(spec, pool=BasePool()), 12, batches=(1, 8))
