"""The trainer's FLOP estimate: the transformers formula, with the model's parameters counted once."""

from __future__ import annotations

import pytest
import torch

from evalkit.train.trainer import trainer_class


@pytest.mark.parametrize("packing", [True, False], ids=["packed", "plain"])
def test_flop_estimate_counts_parameters_once(tiny_model_dir, packing):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    expected_parameters = model.num_parameters(exclude_embeddings=True)
    calls = []
    count = model.num_parameters

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return count(*args, **kwargs)

    model.num_parameters = counting
    cls = trainer_class(packing)
    trainer = cls.__new__(cls)  # only the method under test is exercised: no data, no training loop
    trainer.model = model
    for tokens in (7, 64, 3):
        inputs = {"input_ids": torch.zeros(1, tokens, dtype=torch.long)}
        assert trainer.floating_point_ops(inputs) == 6 * tokens * expected_parameters
    assert calls == [{"exclude_embeddings": True}]


def test_only_the_packed_trainer_replaces_the_loss():
    from trl import SFTTrainer

    assert trainer_class(False).compute_loss is SFTTrainer.compute_loss
    assert trainer_class(True).compute_loss is not SFTTrainer.compute_loss
