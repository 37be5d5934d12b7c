"""Fingerprints: what exactly produced a result (weights, adapter, template, decoding)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from evalkit.models.decode_kernel import attention_path
from evalkit.models.precision import resolve_dtype
from evalkit.models.prompting import sha256_text, template_text
from evalkit.models.row_blocks import ROW_BLOCK
from evalkit.models.spec import ModelSpec
from evalkit.redact import redact_url


def adapter_fingerprint(adapter_dir: str | None) -> str | None:
    """sha256 over an adapter's config and weight files (None when there is no adapter)."""
    if not adapter_dir:
        return None
    folder = Path(adapter_dir)
    digest = hashlib.sha256()
    names = (
        sorted(
            p
            for p in folder.iterdir()
            if p.name == "adapter_config.json" or p.suffix in (".safetensors", ".bin")
        )
        if folder.is_dir()
        else []
    )
    if not names:
        return f"missing:{adapter_dir}"
    for path in names:
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def fingerprint_parts(spec: ModelSpec, base_dir: str, weights_sha: str) -> dict:
    """The components of a spec's fingerprint, stored with every result."""
    if spec.backend == "openai":
        # Credentials in the URL are not part of the model's identity, and parts are recorded in run.json.
        url = redact_url(spec.base_url) if spec.base_url else None
        model_part = {"backend": "openai", "base_url": url, "model": spec.model}
    elif spec.backend == "vllm":  # engine and dtype keep vLLM's generations apart from the HF engine's
        from evalkit.models.vllm_engine import vllm_version

        model_part = {
            "backend": "vllm",
            "engine": vllm_version(),
            "weights": weights_sha,
            "dtype": spec.dtype,
            "quantization": spec.quantization,
            "vllm": spec.vllm.engine_key(),
        }
    else:
        model_part = {
            "backend": "hf",
            "weights": weights_sha,
            "dtype": resolve_dtype(spec.dtype),  # what it computes in: auto never mixes dtypes in the cache
            "quantization": spec.quantization,
        }
        if model_part["dtype"] != "float32" and spec.quantization == "none":
            # half-precision linears run on fixed row blocks (evalkit.models.row_blocks): other numbers
            model_part["gemm_row_block"] = ROW_BLOCK
        if model_part["dtype"] == "bfloat16":  # the compiled decode attention, or the torch path without it
            model_part["decode_attention"] = attention_path(model_part["dtype"])
        if model_part["dtype"] != "float32" and spec.adapter:
            # the adapter's float32 LoRA linears run row-blocked beside a half-precision base
            model_part["adapter_row_block"] = ROW_BLOCK
    return {
        **model_part,
        "adapter": adapter_fingerprint(spec.adapter),
        "chat_template": sha256_text(template_text(base_dir, spec.chat_template)),
        "system_prompt": sha256_text(spec.system_prompt or ""),
        "generation": spec.generation.decoding(),
    }


def combine(parts: dict) -> str:
    """One hex digest for a parts dict (stable key order)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def generation_key(model_parts: dict, prompt: str, generation: dict) -> str:
    """Content address of one generation: the model (minus its default decoding), the prompt and decoding."""
    core = {k: v for k, v in model_parts.items() if k != "generation"}
    return combine({"model": core, "prompt": sha256_text(prompt), "generation": generation})
