"""The per-draw values and pass flags inside one score row.

A row is one (sample, draw, scorer). A judge asked ``samples: k`` times keeps
each judge sample's value in ``details["draws"]`` (and pass flags in
``details["draws_passed"]``); any other row holds a single value. Metrics and
compare both read rows through these two functions, so they agree on what an
item's draws are.
"""

from __future__ import annotations

import math


def row_values(row: dict) -> list[float]:
    """The usable values of a score row, in order: its judge samples' values, else its own value."""
    if row.get("error") is not None:
        return []
    details = row.get("details") or {}
    draws = details.get("draws") if isinstance(details, dict) else None
    values = draws if isinstance(draws, list) else [row.get("value")]
    return [float(v) for v in values if _number(v)]


def row_passes(row: dict) -> list[bool]:
    """The pass flags of a score row: one per judge sample when recorded, else its own (none if unset)."""
    if row.get("error") is not None:
        return []
    details = row.get("details") or {}
    flags = details.get("draws_passed") if isinstance(details, dict) else None
    flags = flags if isinstance(flags, list) else [row.get("passed")]
    return [bool(f) for f in flags if isinstance(f, bool)]


def has_draws(row: dict) -> bool:
    """Whether the row holds several judge samples (so its value is a mean, not one verdict)."""
    details = row.get("details") or {}
    return isinstance(details, dict) and isinstance(details.get("draws"), list)


def all_or_none(flags: list[bool | None]) -> bool | None:
    """True when every flag is True, False when every flag is False, else (mixed or unknown) None."""
    if flags and all(f is True for f in flags):
        return True
    if flags and all(f is False for f in flags):
        return False
    return None


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value))
