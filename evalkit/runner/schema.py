"""Run files from another evalkit version are refused with a message, not read into a KeyError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalkit.errors import DataError
from evalkit.runner.store import read_json
from evalkit.types import SCHEMA_VERSION

#: Keys each run file must have for this evalkit to read it (dotted = nested).
REQUIRED = {
    "run header": ("suite.name", "suite.data_sha256", "arm.name", "arm.fingerprint"),
    "run metrics": ("suite.name", "arm.name", "primary_metric", "metrics"),
}


def schema_problem(doc: Any, what: str) -> str | None:
    """Why ``doc`` (a parsed run.json / metrics.json) cannot be read by this evalkit, or None."""
    if not isinstance(doc, dict):
        return f"expected a JSON object, got {type(doc).__name__}"
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        age = "an older" if not isinstance(version, int) or version < SCHEMA_VERSION else "a newer"
        return f"written by {age} evalkit (schema_version {version!r}; this evalkit reads {SCHEMA_VERSION})"
    for dotted in REQUIRED.get(what, ()):
        node: Any = doc
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return f"has no {dotted!r} (written by another evalkit version, or edited)"
    return None


def read_run_file(path: str | Path, what: str) -> dict:
    """Read run.json (``what="run header"``) or metrics.json (``"run metrics"``), checking its schema."""
    doc = read_json(path, what)
    problem = schema_problem(doc, what)
    if problem:
        raise DataError(
            f"{path}: {what} {problem}.",
            hint="re-run with --fresh to redo this run with this evalkit, or delete its folder",
        )
    return doc
