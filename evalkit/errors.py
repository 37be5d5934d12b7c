"""The one exception users see: a clear, one-paragraph message, exit code 2."""

from __future__ import annotations

MAX_MESSAGE_CHARS = 2000


def bounded(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out (for messages and metadata)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


class EvalkitError(Exception):
    """A problem with the user's input or environment, not a bug in evalkit.

    The CLI prints ``str(error)`` (no traceback unless ``--debug``) and exits
    with ``exit_code`` (2 for usage and input errors).
    """

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message}\n  hint: {hint}")


class ConfigError(EvalkitError):
    """A YAML/JSON config or data file is malformed or invalid."""


class DataError(EvalkitError):
    """A data file (JSONL, CSV, dataset) cannot be read or has bad rows."""


class ModelError(EvalkitError):
    """A model or adapter cannot be found, fetched or loaded."""


class GateFailed(Exception):
    """Raised to signal that a gate ran and failed (exit code 1)."""

    exit_code = 1


class SuiteSkipped(EvalkitError):
    """A suite cannot run here for a stated reason (e.g. its judge has no API key).

    Runners skip it with a visible notice and carry on with the other suites;
    it is never silently scored.
    """
