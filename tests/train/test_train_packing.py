"""Padding-free batches and the completion-only loss on the tiny random Llama, against the plain loss."""

from __future__ import annotations

import pytest
import torch

from evalkit.train.loss import completion_loss, decoder_hidden_states, head_weight, label_targets
from evalkit.train.packing import PackedCollator, use_varlen_attention

LENGTHS = [(5, 4), (9, 3), (3, 6), (12, 2)]  # (prompt tokens, answer tokens) per row


def rows(vocab: int, seed: int = 0) -> list[dict]:
    """Random rows with a masked prompt and a labelled answer."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for prompt, answer in LENGTHS:
        ids = torch.randint(3, vocab, (prompt + answer,), generator=gen).tolist()
        out.append({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]})
    return out


@pytest.fixture()
def tiny(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32,
                                                 attn_implementation="sdpa")
    model.eval()
    return model


def reference_row_loss(model, row: dict) -> torch.Tensor:
    """One row alone through the model's own causal-LM loss (the mean over its answer tokens)."""
    out = model(input_ids=torch.tensor([row["input_ids"]]), labels=torch.tensor([row["labels"]]))
    return out.loss


def test_collator_concatenates_rows_with_restarting_positions():
    batch = PackedCollator(max_length=10)(rows(300))
    lengths = [min(p + a, 10) for p, a in LENGTHS]
    assert batch["input_ids"].shape == (1, sum(lengths))
    assert batch["cu_seq_lens"].tolist() == [0, *torch.tensor(lengths).cumsum(0).tolist()]
    assert batch["max_length"] == max(lengths)
    starts = batch["cu_seq_lens"][:-1].tolist()
    assert batch["position_ids"][0, starts].tolist() == [0] * len(LENGTHS)
    assert (batch["labels"][0, starts] == -100).all()  # never predicted across a row boundary
    # the 12+2 row is cut to 10 tokens: its answer is gone, all its labels are masked
    assert (batch["labels"][0, starts[-1]:] == -100).all()


@pytest.mark.parametrize("varlen", [False, True], ids=["sdpa-block-mask", "varlen"])
def test_packed_loss_per_row_equals_the_unpacked_loss(tiny, varlen):
    if varlen:
        use_varlen_attention(tiny)
    data = rows(tiny.config.vocab_size)
    batch = PackedCollator(max_length=64)([dict(r) for r in data])
    with torch.no_grad():
        with decoder_hidden_states(tiny) as captured:
            tiny(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                 cu_seq_lens_q=batch["cu_seq_lens"], cu_seq_lens_k=batch["cu_seq_lens"],
                 max_length_q=batch["max_length"], max_length_k=batch["max_length"], logits_to_keep=1,
                 use_cache=False)  # with a cache transformers does not derive row boundaries from positions
        hidden = captured[-1]
        bounds = batch["cu_seq_lens"].tolist()
        for i, row in enumerate(data):
            start, end = bounds[i], bounds[i + 1]
            total, count = completion_loss(hidden[:, start:end], head_weight(tiny),
                                           batch["labels"][:, start:end])
            expected = reference_row_loss(tiny, row)
            assert count == LENGTHS[i][1]
            assert total.item() / count == pytest.approx(expected.item(), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("lengths", [[5, 9, 3], [230, 7]], ids=["short-rows", "a-long-row"])
def test_under_a_bfloat16_autocast_each_row_attends_to_itself_alone(lengths):
    """Short rows attend in float32 (a long one in bfloat16), each row to itself, in the dtype SDPA gives."""
    from types import SimpleNamespace

    import torch.nn.functional as F

    from evalkit.train.packing import CPU_FLOAT32_ROWS_BELOW, varlen_attention_forward

    assert 9 < CPU_FLOAT32_ROWS_BELOW <= 230

    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 4, sum(lengths), 8, generator=gen) for _ in range(3))
    bounds = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = varlen_attention_forward(SimpleNamespace(is_causal=True), q, k, v, None,
                                          cu_seq_lens_q=bounds, cu_seq_lens_k=bounds)
    assert out.dtype == torch.bfloat16
    edges = bounds.tolist()
    for start, end in zip(edges[:-1], edges[1:]):
        alone = F.scaled_dot_product_attention(q[:, :, start:end], k[:, :, start:end], v[:, :, start:end],
                                               is_causal=True).transpose(1, 2)
        if end - start < CPU_FLOAT32_ROWS_BELOW:  # float32 attention, rounded once to bfloat16 at the end
            assert torch.equal(out[:, start:end], alone.bfloat16())
        else:  # bfloat16 attention: rounded along the way
            torch.testing.assert_close(out[:, start:end].float(), alone, rtol=5e-2, atol=5e-2)


def test_packing_without_boundaries_would_differ(tiny):
    """The check above can fail: attending across rows (one causal sequence) changes a later row's states."""
    data = rows(tiny.config.vocab_size)
    batch = PackedCollator(max_length=64)(data)
    start, end = batch["cu_seq_lens"][1:3].tolist()
    with torch.no_grad(), decoder_hidden_states(tiny) as captured:
        tiny(input_ids=batch["input_ids"], use_cache=False)
        tiny(input_ids=torch.tensor([data[1]["input_ids"]]), use_cache=False)
    flat, alone = captured
    assert (flat[0, start:end] - alone[0]).abs().max().item() > 0.1


def test_chunked_loss_and_gradients_equal_the_plain_loss(tiny):
    data = rows(tiny.config.vocab_size, seed=1)
    width = max(len(r["input_ids"]) for r in data)
    ids = torch.tensor([r["input_ids"] + [0] * (width - len(r["input_ids"])) for r in data])
    labels = torch.tensor([r["labels"] + [-100] * (width - len(r["labels"])) for r in data])
    mask = torch.arange(width) < torch.tensor([len(r["input_ids"]) for r in data])[:, None]
    params = [p for p in tiny.parameters()]

    plain = tiny(input_ids=ids, attention_mask=mask.long(), labels=labels).loss
    plain_grads = torch.autograd.grad(plain, params, allow_unused=True)
    # chunks of 3 positions: many chunks, each recomputed in the backward pass
    with decoder_hidden_states(tiny) as captured:
        tiny(input_ids=ids, attention_mask=mask.long(), logits_to_keep=1)
    total, count = completion_loss(captured[-1], head_weight(tiny), labels,
                                   chunk_elements=3 * tiny.config.vocab_size)
    ours = total / count
    ours_grads = torch.autograd.grad(ours, params, allow_unused=True)
    assert count == int((labels[:, 1:] != -100).sum())
    assert ours.item() == pytest.approx(plain.item(), rel=1e-5)
    for a, b in zip(plain_grads, ours_grads):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)


def test_under_a_bfloat16_autocast_the_head_runs_in_bfloat16_and_the_loss_in_float32(tiny):
    data = rows(tiny.config.vocab_size, seed=2)
    labels = torch.tensor([data[0]["labels"]])
    with torch.no_grad(), decoder_hidden_states(tiny) as captured:
        tiny(input_ids=torch.tensor([data[0]["input_ids"]]), logits_to_keep=1)
    hidden, weight = captured[-1], head_weight(tiny)
    exact, count = completion_loss(hidden, weight, labels)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast, _ = completion_loss(hidden, weight, labels)
    index, targets = label_targets(labels)
    rounded = torch.nn.functional.linear(hidden.reshape(-1, hidden.shape[-1])[index].bfloat16(),
                                         weight.bfloat16()).float()
    assert fast.dtype == torch.float32
    assert fast.item() == pytest.approx(torch.nn.functional.cross_entropy(rounded, targets, reduction="sum")
                                        .item(), rel=1e-6)
    assert fast.item() == pytest.approx(exact.item(), rel=2e-2)


def test_label_targets_are_the_shifted_labelled_positions():
    labels = torch.tensor([[-100, -100, 7, 8], [-100, 5, -100, -100]])
    index, targets = label_targets(labels)
    assert index.tolist() == [1, 2, 4]  # row 0 positions 1, 2; row 1 position 0 (flat index 4)
    assert targets.tolist() == [7, 8, 5]


def first_loss_and_card(tiny_train_spec, tmp_path, name: str, **training):
    """Train the tiny model for one step; (the step's logged loss, the card's settings)."""
    import json

    from evalkit.train.spec import load_train_spec
    from evalkit.train.trainer import train

    spec = load_train_spec(tiny_train_spec(training={"max_steps": 1, **training}, lora={"dropout": 0.0},
                                           output_dir=str(tmp_path / name)))
    train(spec)
    card = json.loads((tmp_path / name / "evalkit-card.json").read_text())
    return card["loss_history"]["train"][0]["loss"], card["settings"]


def test_trainer_packed_step_has_the_padded_steps_loss(tiny_train_spec, tmp_path):
    packed, packed_settings = first_loss_and_card(tiny_train_spec, tmp_path, "packed", precision="fp32")
    padded, padded_settings = first_loss_and_card(tiny_train_spec, tmp_path, "padded", precision="fp32",
                                                  packing=False)
    assert packed_settings["packing"] is True and padded_settings["packing"] is False
    assert packed_settings["precision"] == padded_settings["precision"] == "fp32"
    assert packed == pytest.approx(padded, rel=1e-4)


def test_card_records_the_precision_used(tiny_train_spec, tmp_path):
    from evalkit.train.precision import cpu_has_bf16

    _, settings = first_loss_and_card(tiny_train_spec, tmp_path, "auto")
    assert settings["precision"] in ("bf16", "fp32") and settings["precision_reason"]
    if not cpu_has_bf16():
        assert settings["precision"] == "fp32"
    else:  # auto measured both: the card says what it saw and chose accordingly
        probe = settings["precision_probe"]
        assert (settings["precision"] == "bf16") == (probe["speedup"] >= 1.2)
