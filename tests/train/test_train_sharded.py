"""Sharded QLoRA (FSDP / DeepSpeed ZeRO-3): the settings a sharder needs, decided before the model loads.

FSDP and ZeRO-3 can only shard 4-bit weights stored in the compute dtype, and
only when norms are not upcast. What can be checked without GPUs: the
training arguments are built first (so ``accelerate launch`` state exists
when the model loads), the sharded detection reads them, and the loaded
model has the storage a sharder needs.
"""

from __future__ import annotations

import pytest

from evalkit.models.registry import resolve_base
from evalkit.train import trainer as trainer_module
from evalkit.train.spec import TrainingError, load_train_spec
from evalkit.train.trainer import load_training_model


def _linear4bit_weights(model):
    import bitsandbytes as bnb

    return [m.weight for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]


@pytest.mark.model
def test_sharded_nf4_stores_weights_in_the_compute_dtype(default_home):
    import torch

    base = resolve_base("evalkit:smollm2-135m-instruct")
    options = {"cuda": False, "precision": "fp32", "local_rank": 0, "gradient_checkpointing": False}
    sharded = load_training_model(base, "nf4", sharded=True, **options)
    plain = load_training_model(base, "nf4", sharded=False, **options)
    sharded_weights, plain_weights = _linear4bit_weights(sharded), _linear4bit_weights(plain)
    assert sharded_weights and len(sharded_weights) == len(plain_weights)
    assert {w.dtype for w in sharded_weights} == {torch.float32}  # one dtype: FSDP can flatten and shard it
    assert {w.dtype for w in plain_weights} == {torch.uint8}
    # the same packed 4-bit values either way, only viewed through another storage dtype
    assert sharded_weights[0].data.view(torch.uint8).numel() == plain_weights[0].data.numel()


def test_int8_cannot_be_sharded(tiny_model_dir):
    with pytest.raises(TrainingError, match="int8 cannot be sharded"):
        load_training_model(str(tiny_model_dir), "int8", cuda=False, precision="fp32", local_rank=0,
                            gradient_checkpointing=False, sharded=True)


@pytest.mark.parametrize(("env", "expected"), [({}, False), ({"ACCELERATE_USE_FSDP": "true"}, True)])
def test_arguments_are_built_before_the_model_loads(tiny_train_spec, monkeypatch, env, expected):
    """The SFT config exists before loading, and FSDP in accelerate's environment marks the run sharded."""
    calls = []
    real_config, real_load = trainer_module._sft_config, trainer_module.load_training_model

    def config(*args, **kwargs):
        calls.append("config")
        return real_config(*args, **kwargs)

    def load(*args, sharded=False, **kwargs):
        calls.append(("load", sharded))
        return real_load(*args, sharded=False, **kwargs)  # the tiny model is not quantized: plain load

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(trainer_module, "_sft_config", config)
    monkeypatch.setattr(trainer_module, "load_training_model", load)
    spec = load_train_spec(tiny_train_spec())
    from accelerate import PartialState

    state = PartialState()
    with trainer_module.quiet():
        prep = trainer_module.prepare(spec, state)
        try:
            trainer_module.build_trainer(spec, prep, state, [])
        except Exception:  # noqa: BLE001 - FSDP itself cannot wrap a model on one CPU process
            if not expected:
                raise
    assert calls[:2] == ["config", ("load", expected)]
