"""Several suites at once: each one that cannot run here is set aside with its reason."""

from __future__ import annotations

from evalkit.errors import SuiteSkipped
from evalkit.suite.loader import Suite, load_suite


def load_suites(names: list[str], *, limit: int | None = None) -> tuple[list[Suite], list[tuple[str, str]]]:
    """The suites that can run, and (name as given, reason) for each that raised SuiteSkipped.

    A suite is skipped, not failed, when something it needs is absent here (a judge's API key,
    an optional package); every other error in a suite stops the whole call.
    """
    loaded: list[Suite] = []
    skipped: list[tuple[str, str]] = []
    for name in names:
        try:
            loaded.append(load_suite(name, limit=limit))
        except SuiteSkipped as exc:
            skipped.append((name, exc.message))
    return loaded, skipped
