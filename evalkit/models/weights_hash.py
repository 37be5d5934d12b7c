"""Which exact weights a result came from: sha256 of a base's weight files, cached per file."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from evalkit.errors import ModelError
from evalkit.home import evalkit_home
from evalkit.models.manifest import model_path, read_manifest
from evalkit.models.spec import EMBEDDED_PREFIX
from evalkit.runner.store import write_text_atomic


def sha256_file(path: Path) -> str:
    """The sha256 of one file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def combine_hashes(file_hashes: dict[str, str]) -> str:
    """One digest for a set of files: sha256 over sorted ``name:sha256`` lines."""
    lines = "".join(f"{name}:{sha}\n" for name, sha in sorted(file_hashes.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def weight_files(folder: Path) -> list[Path]:
    """The files ``from_pretrained`` reads weights from: safetensors if any, else ``*.bin``."""
    files = sorted(folder.glob("*.safetensors"))
    return files or sorted(p for p in folder.glob("*.bin") if p.name != "training_args.bin")


def hash_weights(folder: Path) -> str:
    """Combined sha256 of a folder's weight files, per-file hashes cached by (path, size, mtime)."""
    files = weight_files(folder)
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
            entry = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256_file(real)}
            cache[key], changed = entry, True
        hashes[path.name] = entry["sha256"]
    if changed:  # also forget files that no longer exist
        cache = {key: entry for key, entry in cache.items() if os.path.exists(key)}
        write_text_atomic(sidecar, json.dumps(cache, indent=1))
    return combine_hashes(hashes)


def hub_snapshot(repo_id: str) -> Path | None:
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
            snapshot = hub_snapshot(path_or_id)
            return hash_weights(snapshot) if snapshot and weight_files(snapshot) else f"hub:{path_or_id}"
    manifest = read_manifest(folder)
    return manifest["weights_sha256"] if manifest else hash_weights(folder)
