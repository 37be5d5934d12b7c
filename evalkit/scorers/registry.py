"""Scorer registry: a scorer is a factory, registered by name, returning a pure function.

    @scorer("exact_match")
    def exact_match(*, ignore_case: bool = True) -> ScoreFn:
        def score(sample: Sample, generation: Generation) -> Score: ...
        return score

Suites name scorers with options; :func:`build_scorer` checks the options
against the factory's keyword arguments (unknown options are errors with the
closest valid name) and returns the scoring function.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from pathlib import Path

from evalkit.errors import ConfigError
from evalkit.types import Generation, Sample, Score

ScoreFn = Callable[[Sample, Generation], Score]
ScorerFactory = Callable[..., ScoreFn]

_REGISTRY: dict[str, ScorerFactory] = {}


def scorer(name: str) -> Callable[[ScorerFactory], ScorerFactory]:
    """Register a scorer factory under ``name`` (names must be unique)."""

    def register(factory: ScorerFactory) -> ScorerFactory:
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise ValueError(f"scorer {name!r} is already registered")
        _REGISTRY[name] = factory
        return factory

    return register


def scorer_names() -> list[str]:
    """Names of all registered scorers."""
    _load_builtins()
    return sorted(_REGISTRY)


def build_scorer(name: str, options: dict, *, suite_dir: Path | None = None, where: str = "") -> ScoreFn:
    """Build a scoring function from a registered name and options.

    ``suite_dir`` is passed to factories that accept it (to resolve files such
    as JSON schemas). Raises ConfigError for unknown names or options.
    """
    _load_builtins()
    prefix = f"{where}: " if where else ""
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"{prefix}unknown scorer {name!r}{hint}; known scorers: {', '.join(sorted(_REGISTRY))}."
        )
    factory = _REGISTRY[name]
    params = inspect.signature(factory).parameters
    accepted = [p for p in params if p != "suite_dir"]
    for key in options:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = (
                f" (did you mean {close[0]!r}?)" if close else f" (options: {', '.join(accepted) or 'none'})"
            )
            raise ConfigError(f"{prefix}scorer {name!r} has no option {key!r}{hint}.")
    kwargs = dict(options)
    if "suite_dir" in params:
        kwargs["suite_dir"] = suite_dir
    try:
        return factory(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{prefix}scorer {name!r}: {exc}") from None


def _load_builtins() -> None:
    # Importing the modules registers their scorers.
    from evalkit.scorers import builtin  # noqa: F401
