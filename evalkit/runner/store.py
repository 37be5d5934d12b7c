"""Run directories on disk: append-only JSONL flushed per batch, atomic JSON writes."""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evalkit.errors import DataError

# Lone surrogates cannot be encoded as UTF-8; U+0085/U+2028/U+2029 are line breaks to str.splitlines()
# (and to JavaScript). json.dumps(ensure_ascii=False) writes all of them raw, so they are escaped.
_ESCAPE = re.compile("[\ud800-\udfff\x85\u2028\u2029]")


def finite(obj: Any) -> Any:
    """``obj`` with every NaN/Infinity float replaced by None (standard JSON has no such numbers)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: finite(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(value) for value in obj]
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """Standard JSON text that can always be written as UTF-8.

    NaN and Infinity (which ``json.dumps`` writes as bare ``NaN``, rejected by
    strict parsers) become ``null``.

    Non-ASCII text stays readable (``ensure_ascii=False``), but lone surrogates
    (which a model server can send as ``"\\ud800"`` and UTF-8 cannot encode)
    and the line separators U+0085/U+2028/U+2029 are written as ``\\uXXXX``
    escapes, so ``json.loads`` gives back the exact string and a JSONL row
    stays one line for any reader. These characters can only occur inside JSON
    strings, so escaping them in the finished text is safe. (Two adjacent
    surrogates forming a valid pair come back as the one character they encode.)
    """
    try:
        text = json.dumps(obj, ensure_ascii=False, allow_nan=False, **kwargs)
    except ValueError:  # a non-finite float somewhere (or a default= result holding one)
        text = json.dumps(finite(obj), ensure_ascii=False, allow_nan=False, **kwargs)
    if _ESCAPE.search(text):
        text = _ESCAPE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


def split_lines(text: str) -> list[str]:
    """JSONL lines: split on ``\\n`` only (``str.splitlines`` also splits inside strings at U+2028 etc.)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def utf8_safe(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8 (lone surrogates from a byte-level decoder do not)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def write_text_atomic(path: str | Path, chunks: str | Iterable[str]) -> Path:
    """Write text via a temp file in the same folder and rename it into place.

    Readers never see half a file, and a failed write (full disk, kill) leaves
    the previous version of ``path`` untouched. Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for chunk in [chunks] if isinstance(chunks, str) else chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON via a temp file and rename, so readers never see half a file."""
    write_text_atomic(path, dumps(data, indent=2, default=str) + "\n")


def write_jsonl_atomic(path: str | Path, rows: Iterable[dict]) -> None:
    """Write a whole JSONL file atomically."""
    write_text_atomic(path, (dumps(row) + "\n" for row in rows))


def append_text_atomic(path: str | Path, text: str) -> Path:
    """Append ``text`` to a small file by rewriting it atomically (a failed write keeps the old file)."""
    path = Path(path)
    previous = path.read_text(encoding="utf-8") if path.is_file() else ""
    return write_text_atomic(path, previous + text)


def append_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    """Append rows and flush to disk (one batch at a time, so a kill loses at most a batch)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(dumps(row) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_jsonl_tolerant(path: str | Path) -> list[dict]:
    """Read an append-only JSONL file written by evalkit, dropping a torn last line from a kill."""
    path = Path(path)
    if not path.is_file():
        return []
    lines = split_lines(path.read_text(encoding="utf-8"))
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                break  # torn final line of an interrupted write
            raise DataError(
                f"{path}:{number}: corrupt line in a run file; delete the run directory to redo it."
            ) from None
    return rows


def read_json(path: str | Path, what: str = "file") -> Any:
    """Read a JSON file with a clear error when it is missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} not found.")
    try:
        # utf-8-sig: a file saved by a Windows editor starts with a byte-order mark
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: corrupt {what}: {exc}.") from None
