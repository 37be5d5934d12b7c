"""Cheap health checks of weight files: a truncated or overwritten safetensors file is named, not loaded.

A safetensors file is an 8-byte little-endian header length, a JSON header
giving every tensor's byte range, then the data; checking that the header
parses and that the file is exactly as long as the header says catches
truncation and most overwrites without reading the tensors.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from evalkit.errors import ModelError

_MAX_HEADER = 100 * 1024 * 1024  # safetensors refuses larger headers too
BASE_WEIGHTS_HINT = (
    "for an embedded model run `evalkit models pull --force NAME`; else re-download or re-save the folder"
)


def safetensors_problem(path: str | Path) -> str | None:
    """What is wrong with a safetensors file (None when its header and size are consistent)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                return f"{size} bytes, too short to be a safetensors file"
            (length,) = struct.unpack("<Q", prefix)
            if length > min(_MAX_HEADER, size - 8):
                return f"header length {length} does not fit in {size} bytes: truncated or overwritten"
            header = json.loads(handle.read(length))
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    except (ValueError, UnicodeDecodeError):
        return "the header is not valid JSON: truncated or overwritten"
    if not isinstance(header, dict):
        return "the header is not a JSON object"
    ends = [t["data_offsets"][1] for k, t in header.items()
            if k != "__metadata__" and isinstance(t, dict) and isinstance(t.get("data_offsets"), list)]
    expected = 8 + length + max(ends, default=0)
    if size != expected:
        return f"{size} bytes, but its header describes {expected}: truncated or overwritten"
    return None


def weight_problems(folder: str | Path) -> list[str]:
    """``"file: problem"`` for every damaged ``*.safetensors`` file directly in ``folder``."""
    out = []
    for path in sorted(Path(folder).glob("*.safetensors")):
        problem = safetensors_problem(path)
        if problem:
            out.append(f"{path.name}: {problem}")
    return out


def check_weights(folder: str | Path, what: str, hint: str) -> None:
    """Raise ModelError naming the damaged weight files of ``folder`` (``what``: "base model", "adapter")."""
    if not Path(folder).is_dir():
        return
    problems = weight_problems(folder)
    if problems:
        raise ModelError(f"{what} {folder}: damaged weights: {'; '.join(problems)}.", hint=hint)
