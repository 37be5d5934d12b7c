"""Versions of the packages that shape results, recorded with every run."""

from __future__ import annotations

import platform
from functools import lru_cache
from importlib import metadata

_PACKAGES = ("evalkit", "torch", "transformers", "peft", "trl", "bitsandbytes", "lm_eval", "datasets")


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    """Installed versions of evalkit and its model stack, plus the Python version."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
