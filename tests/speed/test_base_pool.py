"""One base load, many arms: base, base+prompt and several adapters share one loaded base."""

from __future__ import annotations

import pytest
from speed_helpers import make_random_adapter

from evalkit.models.hf_loading import BasePool
from evalkit.models.loader import load_model
from evalkit.models.spec import GenerationConfig, ModelSpec

CONFIG = GenerationConfig(max_new_tokens=8)
INPUTS = [f"What is {i} plus {i}? hello world" for i in range(6)]


@pytest.fixture(scope="module")
def second_adapter_dir(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-lora-2")
    return make_random_adapter(str(tiny_model_dir), folder, seed=1, scale=20.0)


def _texts(arm):
    prompts = [(f"q{i}", arm.backend.render(text)) for i, text in enumerate(INPUTS)]
    return [g.text for g in arm.backend.generate(prompts, CONFIG, batch_size=4)]


def test_arms_share_one_base_and_base_runs_without_adapters(
    tiny_model_dir, tiny_adapter_dir, second_adapter_dir, single_thread
):
    fresh = ModelSpec(name="fresh", base=str(tiny_model_dir), dtype="float32")
    untouched = _texts(load_model(fresh, pool=BasePool()))
    pool = BasePool()

    def arm(name, **spec):
        return load_model(ModelSpec(name=name, base=str(tiny_model_dir), dtype="float32", **spec), pool=pool)

    base, prompted = arm("base"), arm("p", system_prompt="Be brief.")
    tuned_a, tuned_b = arm("a", adapter=str(tiny_adapter_dir)), arm("b", adapter=str(second_adapter_dir))
    embed_before = base.backend.loaded().model.get_input_embeddings().weight.data_ptr()

    first = {arm.name: _texts(arm) for arm in (base, prompted, tuned_a, tuned_b)}
    again = {arm.name: _texts(arm) for arm in (tuned_b, base, tuned_a, prompted)}

    assert len(pool._bases) == 1
    loaded = {id(arm.backend.loaded()) for arm in (base, prompted, tuned_a, tuned_b)}
    assert len(loaded) == 1, "every arm uses the same LoadedBase"
    shared = base.backend.loaded()
    embed_after = shared.model.get_input_embeddings().weight.data_ptr()
    assert embed_after == embed_before, "adapters are attached to the base weights, not to a copy"
    assert sorted(shared.adapters) == sorted([str(tiny_adapter_dir), str(second_adapter_dir)])

    assert first == again, "arm order must not change any arm's outputs"
    assert first["base"] == untouched, "the base arm runs with every adapter disabled"
    assert first["a"] != first["base"] and first["b"] != first["base"] and first["a"] != first["b"]
    assert "Be brief." in prompted.backend.render("hi") and "Be brief." not in base.backend.render("hi")
