"""Arm and suite names are keys in every output, so they must be distinct."""

from __future__ import annotations

from evalkit.errors import ConfigError


def distinct(names: list[str], reserved: tuple[str, ...] = ()) -> list[str]:
    """``names`` with repeats renamed ``name-2``, ``name-3``...: no two equal, none in ``reserved``."""
    taken = set(reserved)
    wanted = set(names)
    out = []
    for name in names:
        candidate, number = name, 1
        while candidate in taken or (candidate != name and candidate in wanted):
            number += 1
            candidate = f"{name}-{number}"
        taken.add(candidate)
        out.append(candidate)
    return out


def check_distinct_suites(suites: list) -> None:
    """Two suites with one name would share one entry in every output: refuse, naming both folders."""
    seen: dict[str, object] = {}
    for suite in suites:
        if suite.name in seen:
            raise ConfigError(
                f"two suites are both named {suite.name!r}: {seen[suite.name]} and {suite.folder}; "
                "results are keyed by suite name, so one would hide the other.",
                hint="give one of them another name: in its suite.yaml",
            )
        seen[suite.name] = suite.folder
