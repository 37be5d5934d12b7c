"""The compiled decode attention: float32-accurate over a bfloat16 store, and a row's bits are its own."""

from __future__ import annotations

import pytest
import torch

from evalkit.models import decode_kernel
from evalkit.models.kv_attention import DecodePlan, KVStore

needs_kernel = pytest.mark.skipif(not decode_kernel.available(), reason="no C++ compiler on this machine")


def _store(rows: int, kv_heads: int, capacity: int, dim: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    keys = torch.randn(rows, kv_heads, capacity, dim, generator=generator).to(torch.bfloat16)
    values = torch.randn(rows, kv_heads, capacity, dim, generator=generator).to(torch.bfloat16)
    return keys, values


def _reference(q, keys, values, positions, groups: int) -> torch.Tensor:
    """Plain float64 softmax attention of each row over its keys 0..position."""
    rows, heads, dim = q.shape
    out = torch.empty(rows, heads, dim, dtype=torch.float64)
    for row in range(rows):
        n = int(positions[row]) + 1
        for head in range(heads):
            k = keys[row, head // groups, :n].double()
            v = values[row, head // groups, :n].double()
            weights = torch.softmax(k @ q[row, head].double(), dim=0)
            out[row, head] = weights @ v
    return out


def _run(q, keys, values, positions, groups: int, threads: int = 1) -> torch.Tensor:
    out = torch.empty(q.shape, dtype=torch.float32)
    keys_t = keys.transpose(2, 3).contiguous()  # the kernel takes each key as a column
    decode_kernel.decode_attention(q, keys_t, values, positions, out, groups=groups, threads=threads)
    return out


def test_the_kernel_is_built_where_a_compiler_exists():
    if decode_kernel.compiler() is None:
        pytest.skip("no C++ compiler on this machine")
    assert decode_kernel.available()  # with a compiler the fast path must really be there
    assert decode_kernel.attention_path("bfloat16") == decode_kernel.KERNEL_PATH
    assert decode_kernel.attention_path("float32") == decode_kernel.TORCH_PATH


@needs_kernel
@pytest.mark.parametrize(("dim", "kv_heads", "groups"),
                         [(64, 3, 3), (128, 2, 4), (8, 2, 2), (48, 1, 1), (64, 1, 20)])
def test_matches_float64_attention(dim, kv_heads, groups):
    rows, capacity = 7, 96
    keys, values = _store(rows, kv_heads, capacity, dim)
    positions = torch.tensor([0, 1, 5, 31, 32, 64, 95])
    q = torch.randn(rows, kv_heads * groups, dim, generator=torch.Generator().manual_seed(1)) * dim ** -0.5
    got = _run(q, keys, values, positions, groups)
    want = _reference(q, keys, values, positions, groups)
    assert torch.allclose(got.double(), want, rtol=1e-5, atol=1e-6), (got.double() - want).abs().max()


@needs_kernel
def test_a_rows_bits_do_not_depend_on_the_batch_or_the_threads():
    rows, kv_heads, groups, dim = 40, 3, 3, 64
    keys, values = _store(rows, kv_heads, 256, dim, seed=2)
    positions = torch.randint(0, 256, (rows,), generator=torch.Generator().manual_seed(3))
    q = torch.randn(rows, kv_heads * groups, dim, generator=torch.Generator().manual_seed(4)) * 0.125
    batch = _run(q, keys, values, positions, groups)
    assert torch.equal(batch, _run(q, keys, values, positions, groups, threads=2))
    assert torch.equal(batch, _run(q, keys, values, positions, groups, threads=3))
    for row in (0, 17, 39):  # alone, from a store of another capacity holding only that row
        own_keys, own_values = (torch.zeros(1, kv_heads, 512, dim, dtype=torch.bfloat16) for _ in range(2))
        own_keys[0, :, :256], own_values[0, :, :256] = keys[row], values[row]
        alone = _run(q[row : row + 1].contiguous(), own_keys, own_values, positions[row : row + 1], groups)
        assert torch.equal(alone[0], batch[row])


@needs_kernel
def test_decode_plan_over_a_bfloat16_store_matches_the_float32_path():
    layers, rows, kv_heads, capacity, dim, groups = 1, 5, 2, 64, 16, 2
    fast = KVStore(layers, rows, kv_heads, capacity, dim, torch.bfloat16)
    slow = KVStore(layers, rows, kv_heads, capacity, dim, torch.float32)
    keys, values = _store(rows, kv_heads, capacity, dim, seed=5)
    assert fast.transposed and not slow.transposed
    fast.keys[0].copy_(keys.transpose(2, 3))  # each key a column
    slow.keys[0].copy_(keys)
    for store in (fast, slow):
        store.values[0].copy_(values)
    positions = torch.tensor([3, 10, 0, 40, 63])
    generator = torch.Generator().manual_seed(6)
    # the padded batch of a decode step: 8 rows, the last 3 padding; bfloat16 as a bfloat16 model makes them
    query = torch.randn(8, kv_heads * groups, 1, dim, generator=generator).to(torch.bfloat16)
    key = torch.randn(8, kv_heads, 1, dim, generator=generator).to(torch.bfloat16)
    value = torch.randn(8, kv_heads, 1, dim, generator=generator).to(torch.bfloat16)
    outs = [DecodePlan(store, positions.clone(), groups).attend(0, query, key, value, dim ** -0.5)
            for store in (fast, slow)]
    assert outs[0].shape == outs[1].shape == (8, 1, kv_heads * groups, dim)
    assert torch.equal(fast.keys[0].transpose(2, 3).float(), slow.keys[0])  # this step's keys, exactly
    assert torch.allclose(outs[0][:5].float(), outs[1][:5].float(), atol=1e-2)  # both rounded to bf16
    assert torch.count_nonzero(outs[0][5:]) == 0


def test_without_a_compiler_nothing_is_built(tmp_path, monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-here")
    assert decode_kernel.compiler() is None
    assert decode_kernel.build(tmp_path) is None
    assert not any(tmp_path.iterdir())


def test_a_failed_build_leaves_no_library(tmp_path, monkeypatch):
    broken = tmp_path / "broken.cpp"
    broken.write_text("this is not C++\n")
    monkeypatch.setattr(decode_kernel, "SOURCE", broken)
    if decode_kernel.compiler() is None:
        pytest.skip("no C++ compiler on this machine")
    assert decode_kernel.build(tmp_path / "kernels") is None
    assert not list((tmp_path / "kernels").rglob("*.so"))


def test_the_switch_turns_the_kernel_off(monkeypatch):
    decode_kernel._library.cache_clear()
    monkeypatch.setenv(decode_kernel.ENV, "0")
    try:
        assert not decode_kernel.available()
        assert decode_kernel.attention_path("bfloat16") == decode_kernel.TORCH_PATH
    finally:
        monkeypatch.delenv(decode_kernel.ENV)
        decode_kernel._library.cache_clear()
