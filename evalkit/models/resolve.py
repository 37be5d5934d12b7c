"""A model spec's ``base`` as ``from_pretrained`` takes it: embedded name, local folder or hub id."""

from __future__ import annotations

from pathlib import Path

from evalkit.errors import ModelError
from evalkit.home import models_dir
from evalkit.models.embedded import embedded_model
from evalkit.models.manifest import manifest_health, model_path, read_manifest
from evalkit.models.pull import pull_model
from evalkit.models.spec import EMBEDDED_PREFIX


def resolve_base(base: str, *, auto_pull: bool = True) -> str:
    """Turn a model spec's ``base`` into something ``from_pretrained`` accepts.

    ``evalkit:<name>`` becomes the converted folder (pulled on first use when
    ``auto_pull``); an existing local directory becomes its absolute path; a
    path-looking string that does not exist is an error; anything else is a
    Hugging Face hub id and is returned as is.
    """
    if base.startswith(EMBEDDED_PREFIX):
        name = embedded_model(base).name
        folder = models_dir() / name
        manifest = read_manifest(folder)
        if manifest and not manifest_health(folder, manifest):
            return str(folder)
        if manifest:  # never re-downloads behind the user's back, never loads half a file
            problems = "; ".join(manifest_health(folder, manifest))
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
