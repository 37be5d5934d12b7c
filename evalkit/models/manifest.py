"""The local model cache: converted models under ``models_dir()``, each with its manifest."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import ModelError
from evalkit.home import models_dir
from evalkit.models.embedded import embedded_model
from evalkit.models.spec import EMBEDDED_PREFIX
from evalkit.models.weights_check import weight_problems
from evalkit.paths import safe_component

MANIFEST = "evalkit-model.json"


@dataclass(frozen=True)
class CachedModel:
    """A converted model present in the local cache."""

    name: str
    path: Path
    size_bytes: int
    weights_sha256: str
    pulled_at: str
    problems: tuple[str, ...] = ()  # damaged weight files (size/header check); empty when healthy


def read_manifest(folder: Path) -> dict | None:
    """A converted model's manifest, or None when the folder has no readable one."""
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("weights_sha256") else None


def list_models() -> list[CachedModel]:
    """The converted models in the cache (folders with a manifest), sorted by name."""
    found = []
    for folder in sorted(models_dir().iterdir()):
        manifest = read_manifest(folder) if folder.is_dir() and not folder.name.startswith(".") else None
        if manifest:
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
            found.append(CachedModel(folder.name, folder, size, manifest["weights_sha256"],
                                     manifest.get("pulled_at", ""), tuple(manifest_health(folder, manifest))))
    return found


def manifest_health(folder: Path, manifest: dict) -> list[str]:
    """Damaged or missing weight files of a converted model (cheap: sizes and headers, no hashing)."""
    recorded = manifest.get("files_sha256") or {}
    missing = [f"{name}: missing" for name in recorded if not (folder / name).is_file()]
    return missing + weight_problems(folder)


def model_path(name: str) -> Path:
    """The folder of a cached model (``name`` with or without ``evalkit:``); ModelError if not pulled."""
    name = name.removeprefix(EMBEDDED_PREFIX)
    folder = models_dir() / name
    if name and safe_component(name) == name and read_manifest(folder):  # a name, never a path
        return folder
    embedded_model(name)  # unknown names get the list of known ones
    raise ModelError(f"model {name!r} is not in the cache ({models_dir()})",
                     hint=f"run `evalkit models pull {name}`")
