"""The ``@scorer`` decorator and the table of scorer factories it fills, by name.

Scorer modules import this (never :mod:`evalkit.scorers.registry`, which imports them all).
"""

from __future__ import annotations

from collections.abc import Callable

from evalkit.types import Generation, Sample, Score

ScoreFn = Callable[[Sample, Generation], Score]
ScorerFactory = Callable[..., ScoreFn]

SCORER_FACTORIES: dict[str, ScorerFactory] = {}


def scorer(name: str) -> Callable[[ScorerFactory], ScorerFactory]:
    """Register a scorer factory under ``name`` (names must be unique)."""

    def register(factory: ScorerFactory) -> ScorerFactory:
        if name in SCORER_FACTORIES and SCORER_FACTORIES[name] is not factory:
            raise ValueError(f"scorer {name!r} is already registered")
        SCORER_FACTORIES[name] = factory
        return factory

    return register
