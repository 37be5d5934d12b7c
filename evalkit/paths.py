"""Turning names (arms, suites, baselines) into safe, unique path components.

A name comes from a YAML file or the command line, so it may hold ``/``, ``..``,
control characters or a thousand characters. Everything that builds a path from
a name goes through :func:`safe_component`, so no name can write outside the
folder it belongs in, and two different names never share a folder.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

MAX_COMPONENT = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_component(name: str, *, fallback: str = "unnamed", max_len: int = MAX_COMPONENT) -> str:
    """A file/folder name for ``name``: stable, at most ``max_len`` characters, never ``.``/``..``.

    Names that are already safe (letters, digits, ``._+-``, not starting with a
    dot) are returned unchanged. Any other name is sanitised and gets a short
    hash of the original appended, so two names that sanitise alike (``a/b``,
    ``a-b``) still get different components.
    """
    text = str(name)
    if _is_safe(text) and len(text) <= max_len:
        return text
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("-", ascii_text).strip("-.") or fallback
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cleaned[: max_len - len(digest) - 1]}-{digest}"


def _is_safe(text: str) -> bool:
    return bool(text) and not _UNSAFE.search(text) and not text.startswith(".") and text not in (".", "..")
