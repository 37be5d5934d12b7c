"""Validation of numeric CLI options (typer callbacks): a located message and exit 2, never a wrong number."""

from __future__ import annotations

import math
from collections.abc import Callable

import typer


def number_in(
    low: float | None, high: float | None, *, low_open: bool = False, high_open: bool = False, why: str = ""
) -> Callable:
    """A typer callback accepting a finite number in the interval (a ``None`` bound = unbounded)."""

    def check(value: float | None) -> float | None:
        if value is None:
            return value
        if not math.isfinite(value):
            raise typer.BadParameter(f"must be a finite number, got {value}.")
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            lo = "-inf" if low is None else f"{low:g}"
            hi = "inf" if high is None else f"{high:g}"
            span = f"{'(' if low_open else '['}{lo}, {hi}{')' if high_open else ']'}"
            raise typer.BadParameter(f"must be in {span}, got {value:g}." + (f" {why}" if why else ""))
        return value

    return check


def one_of(*choices: str) -> Callable:
    """A typer callback accepting only ``choices``."""

    def check(value: str | None) -> str | None:
        if value is not None and value not in choices:
            raise typer.BadParameter(f"must be one of {', '.join(choices)}; got {value!r}.")
        return value

    return check
