"""dtype auto: bfloat16 where the CPU (or GPU) has it, float32 elsewhere; fingerprints record the result."""

from __future__ import annotations

from evalkit.models import precision
from evalkit.models.fingerprint import fingerprint_parts
from evalkit.models.precision import cpu_bf16_flags, describe_dtype, resolve_dtype
from evalkit.models.spec import ModelSpec


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 avx512_vnni\n")
    assert cpu_bf16_flags(info) == ["avx512_bf16"]
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2\n")
    assert cpu_bf16_flags(info) == []
    assert cpu_bf16_flags(tmp_path / "absent") == []


def test_auto_follows_this_machine():
    import torch

    has_bf16 = bool(cpu_bf16_flags()) if not torch.cuda.is_available() else torch.cuda.is_bf16_supported()
    assert resolve_dtype("auto") == ("bfloat16" if has_bf16 else "float32")
    assert resolve_dtype("float32") == "float32" and resolve_dtype("bfloat16") == "bfloat16"
    assert describe_dtype("auto").startswith(f"{resolve_dtype('auto')} (auto: ")
    assert describe_dtype("float16") == "float16"


def test_fingerprint_records_the_resolved_dtype(tiny_model_dir, monkeypatch):
    base = str(tiny_model_dir)
    auto = fingerprint_parts(ModelSpec(base=base, dtype="auto"), base, "w")
    assert auto["dtype"] == resolve_dtype("auto") != "auto"
    pinned = fingerprint_parts(ModelSpec(base=base, dtype=resolve_dtype("auto")), base, "w")
    assert pinned == auto  # auto and what it resolves to share cache entries
    monkeypatch.setattr(precision, "auto_choice", lambda: ("float32", "test"))
    assert fingerprint_parts(ModelSpec(base=base, dtype="auto"), base, "w")["dtype"] == "float32"


def test_half_precision_fingerprints_record_the_gemm_row_block(tiny_model_dir):
    from evalkit.models.row_blocks import ROW_BLOCK

    base = str(tiny_model_dir)
    half = fingerprint_parts(ModelSpec(base=base, dtype="bfloat16"), base, "w")
    full = fingerprint_parts(ModelSpec(base=base, dtype="float32"), base, "w")
    assert half["gemm_row_block"] == ROW_BLOCK
    assert "gemm_row_block" not in full  # float32 fingerprints (and their baselines) stay as they were


def test_half_precision_adapter_fingerprints_record_that_the_adapter_is_row_blocked(tiny_model_dir, tmp_path):
    from evalkit.models.row_blocks import ROW_BLOCK

    base = str(tiny_model_dir)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    half = fingerprint_parts(ModelSpec(base=base, dtype="bfloat16", adapter=str(adapter)), base, "w")
    full = fingerprint_parts(ModelSpec(base=base, dtype="float32", adapter=str(adapter)), base, "w")
    plain = fingerprint_parts(ModelSpec(base=base, dtype="bfloat16"), base, "w")
    assert half["adapter_row_block"] == ROW_BLOCK  # generations cached before the adapter was blocked differ
    assert "adapter_row_block" not in full and "adapter_row_block" not in plain  # their caches stay valid


def test_bfloat16_fingerprints_record_which_decode_attention_ran(tiny_model_dir, monkeypatch):
    from evalkit.models import decode_kernel

    base = str(tiny_model_dir)
    spec = ModelSpec(base=base, dtype="bfloat16")
    monkeypatch.setattr(decode_kernel, "available", lambda: True)
    compiled = fingerprint_parts(spec, base, "w")
    monkeypatch.setattr(decode_kernel, "available", lambda: False)
    fallback = fingerprint_parts(spec, base, "w")
    assert compiled["decode_attention"] == decode_kernel.KERNEL_PATH
    assert fallback["decode_attention"] == decode_kernel.TORCH_PATH  # the two never share cached outputs
    assert "decode_attention" not in fingerprint_parts(ModelSpec(base=base, dtype="float32"), base, "w")
