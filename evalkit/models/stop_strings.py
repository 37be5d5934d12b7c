"""Stop strings: where a generated text ends, the same for every backend."""

from __future__ import annotations

from collections.abc import Iterable


def cut_at_stop(text: str, stops: Iterable[str]) -> tuple[str, bool]:
    """Truncate ``text`` at the earliest stop string; returns (text, stopped)."""
    cut = len(text)
    for stop in stops:
        if stop:
            pos = text.find(stop)
            if pos != -1:
                cut = min(cut, pos)
    return text[:cut], cut < len(text)
