"""Row-blocked half-precision linears: a row's result never depends on the rows computed with it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from evalkit.models.row_blocks import (
    ROW_BLOCK,
    SHORT_BLOCKS,
    block_half_precision_linears,
    blocked_linear,
    runs_on_one_thread,
    short_blocks,
)


def test_a_row_gets_the_same_bits_in_any_batch_and_at_any_position():
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(1536, 576, generator=gen).bfloat16()
    bias = torch.randn(1536, generator=gen).bfloat16()
    pool = torch.randn(300, 576, generator=gen).bfloat16()
    alone = blocked_linear(pool[:1], weight, bias)[0]
    for rows in (2, 7, ROW_BLOCK - 1, ROW_BLOCK, ROW_BLOCK + 1, 100, 300):
        batch = pool[torch.randperm(300, generator=gen)[:rows]].clone()
        where = int(torch.randint(0, rows, (1,), generator=gen))
        batch[where] = pool[0]
        assert torch.equal(blocked_linear(batch, weight, bias)[where], alone), rows


def test_blocked_equals_plain_linear_to_rounding_and_keeps_the_shape():
    gen = torch.Generator().manual_seed(1)
    weight = torch.randn(64, 48, generator=gen).bfloat16()
    x = torch.randn(3, 101, 48, generator=gen).bfloat16()  # 303 rows: two full blocks and a padded one
    out = blocked_linear(x, weight)
    assert out.shape == (3, 101, 64) and out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), F.linear(x, weight).float(), rtol=2e-2, atol=2e-2)
    assert blocked_linear(x[:0], weight).shape == (0, 101, 64)


def test_a_half_precision_models_plain_linears_are_blocked_float32_ones_too_and_only_once():
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 8), torch.nn.Linear(8, 8))
    model[0].to(torch.bfloat16)
    model[1].to(torch.float16)  # model[2] stays float32, as peft keeps a LoRA adapter's matrices

    class Subclass(torch.nn.Linear):  # bitsandbytes' quantized layers subclass nn.Linear
        pass

    model.append(Subclass(8, 8).to(torch.bfloat16))
    assert block_half_precision_linears(model) == 3  # the subclass is left alone
    assert block_half_precision_linears(model) == 0
    assert all("forward" in vars(model[i]) for i in range(3)) and "forward" not in vars(model[3])
    x = torch.randn(5, 8).bfloat16()
    torch.testing.assert_close(model[0](x), blocked_linear(x, model[0].weight, model[0].bias), rtol=0, atol=0)
    float32_model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 8))
    assert block_half_precision_linears(float32_model) == 0  # MKL's float32 kernels are left as they are


def test_automatic_batch_fills_one_row_block_in_half_precision_and_stays_at_64_in_float32():
    from transformers import LlamaConfig, LlamaForCausalLM

    from evalkit.models.decoding import MAX_AUTO_BATCH, fit_batch_size

    config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1)
    model = LlamaForCausalLM(config)
    assert fit_batch_size(model, capacity=64, wanted=None) == MAX_AUTO_BATCH == 64
    assert fit_batch_size(model.to(torch.bfloat16), capacity=64, wanted=None) == ROW_BLOCK == 128
    assert fit_batch_size(model, capacity=64, wanted=7) == 7  # an explicit batch size is kept


def _whole_blocks(x, weight, bias=None):
    """The reference: every remainder padded to a whole ROW_BLOCK block."""
    rows = x.shape[0]
    pad = -rows % ROW_BLOCK
    flat = torch.cat([x, x.new_zeros(pad, x.shape[1])]) if pad else x
    starts = range(0, flat.shape[0], ROW_BLOCK)
    out = torch.cat([F.linear(flat[s:s + ROW_BLOCK], weight, bias) for s in starts])
    return out[:rows]


def test_short_blocks_give_the_bits_of_whole_blocks_for_the_default_models_products():
    gen = torch.Generator().manual_seed(2)
    for out_features, in_features, with_bias in ((1536, 576, False), (576, 1536, False), (192, 576, True),
                                                 (576, 16, False)):
        weight = torch.randn(out_features, in_features, generator=gen).bfloat16()
        bias = torch.randn(out_features, generator=gen).bfloat16() if with_bias else None
        sizes = short_blocks(weight, bias)
        assert set(sizes) <= set(SHORT_BLOCKS)
        for rows in (1, 5, 8, 31, 33, 64, 65, 127, ROW_BLOCK + 3, 2 * ROW_BLOCK + 40):
            x = torch.randn(rows, in_features, generator=gen).bfloat16()
            expected = _whole_blocks(x, weight, bias)
            assert torch.equal(blocked_linear(x, weight, bias), expected), (out_features, rows)


def test_a_block_size_whose_kernel_rounds_differently_is_never_used():
    def row_count_dependent(x, weight, bias=None):  # a kernel whose sums depend on the block's rows
        out = F.linear(x, weight, bias)
        return out if x.shape[0] == ROW_BLOCK or x.shape[0] % 16 else out + 1

    weight = torch.randn(64, 48).bfloat16()
    assert short_blocks(weight, linear=row_count_dependent) == tuple(s for s in SHORT_BLOCKS if s % 16)
    assert short_blocks(weight, linear=F.linear) == short_blocks(weight)  # probed once per kernel choice
    assert short_blocks(weight.t()) == ()  # not contiguous: whole blocks only


def test_short_blocks_are_probed_once_per_shape_and_thread_count(monkeypatch):
    import evalkit.models.row_blocks as row_blocks

    calls = []
    real = row_blocks._probe
    monkeypatch.setattr(row_blocks, "_probed", {})
    monkeypatch.setattr(row_blocks, "_probe", lambda *a: calls.append(a) or real(*a))
    weight = torch.randn(40, 24).bfloat16()
    x = torch.randn(3, 24).bfloat16()
    blocked_linear(x, weight)
    blocked_linear(x, torch.randn(40, 24).bfloat16())
    assert len(calls) == 1
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1 if threads > 1 else 2)
        blocked_linear(x, weight)
    finally:
        torch.set_num_threads(threads)
    assert len(calls) == 2


_LINEAR = F.linear


def _thread_count_dependent(x, weight, bias=None):
    """A kernel that splits its sums across threads: more than one thread changes the last bits."""
    out = _LINEAR(x, weight, bias)
    return out if torch.get_num_threads() == 1 else out + 1


def test_a_product_whose_bits_change_with_the_thread_count_runs_on_one_thread(monkeypatch):
    import evalkit.models.row_blocks as row_blocks

    weight = torch.randn(64, 48).bfloat16()
    x = torch.randn(200, 48).bfloat16()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert runs_on_one_thread(weight, linear=_thread_count_dependent)
        assert not runs_on_one_thread(weight, linear=F.linear)
        assert short_blocks(weight, linear=_thread_count_dependent) == short_blocks(weight)
        monkeypatch.setattr(row_blocks, "_probed", {})
        monkeypatch.setattr(F, "linear", _thread_count_dependent)  # what blocked_linear runs, probe included
        two_threads = blocked_linear(x, weight)
        assert torch.get_num_threads() == 2  # restored for the thread governor
        torch.set_num_threads(1)
        assert torch.equal(blocked_linear(x, weight), two_threads)
        assert not runs_on_one_thread(weight, linear=_thread_count_dependent)  # one thread: no comparison
    finally:
        torch.set_num_threads(threads)
