"""Versions of the packages that shape results, recorded with every run."""

from __future__ import annotations

import platform
from functools import lru_cache
from importlib import metadata

_PACKAGES = ("evalkit", "torch", "transformers", "peft", "trl", "bitsandbytes", "lm_eval", "datasets")


def installed_versions(names: tuple[str, ...]) -> dict[str, str]:
    """Installed version of each distribution in ``names`` ("not installed" when absent)."""
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    """Installed versions of evalkit and its model stack, plus the Python version."""
    return {"python": platform.python_version(), **installed_versions(_PACKAGES)}
