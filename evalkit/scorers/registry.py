"""Scorer lookup: a scorer is a factory, registered by name, returning a pure function.

    @scorer("exact_match")
    def exact_match(*, ignore_case: bool = True) -> ScoreFn:
        def score(sample: Sample, generation: Generation) -> Score: ...
        return score

Suites name scorers with options; :func:`build_scorer` checks the options
against the factory's keyword arguments (unknown options are errors with the
closest valid name) and returns the scoring function. Importing this module registers every
built-in scorer (:mod:`evalkit.scorers.builtin`); the decorator and the table it fills are in
:mod:`evalkit.scorers.base`, which scorer modules import.
"""

from __future__ import annotations

import difflib
import inspect
from pathlib import Path

from evalkit.errors import ConfigError
from evalkit.scorers import builtin  # noqa: F401 - registers the built-in and judge scorers
from evalkit.scorers.base import SCORER_FACTORIES, ScoreFn, ScorerFactory, scorer

__all__ = ["ScoreFn", "ScorerFactory", "build_scorer", "scorer", "scorer_names"]


def scorer_names() -> list[str]:
    """Names of all registered scorers."""
    return sorted(SCORER_FACTORIES)


def build_scorer(name: str, options: dict, *, suite_dir: Path | None = None, where: str = "") -> ScoreFn:
    """Build a scoring function from a registered name and options.

    ``suite_dir`` is passed to factories that accept it (to resolve files such
    as JSON schemas). Raises ConfigError for unknown names or options.
    """
    prefix = f"{where}: " if where else ""
    if name not in SCORER_FACTORIES:
        close = difflib.get_close_matches(name, SCORER_FACTORIES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"{prefix}unknown scorer {name!r}{hint}; known scorers: {', '.join(sorted(SCORER_FACTORIES))}."
        )
    factory = SCORER_FACTORIES[name]
    params = _signature(factory).parameters
    accepted = [p for p in params if p != "suite_dir"]
    for key in options:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = (
                f" (did you mean {close[0]!r}?)" if close else f" (options: {', '.join(accepted) or 'none'})"
            )
            raise ConfigError(f"{prefix}scorer {name!r} has no option {key!r}{hint}.")
    missing = [
        p.name
        for p in params.values()
        if p.name != "suite_dir"
        and p.default is inspect.Parameter.empty
        and p.name not in options
        and p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    if missing:
        raise ConfigError(f"{prefix}scorer {name!r} needs option(s): {', '.join(missing)}.")
    kwargs = {key: _checked_option(name, params[key], value, prefix) for key, value in options.items()}
    if "suite_dir" in params:
        kwargs["suite_dir"] = suite_dir
    try:
        return factory(**kwargs)
    except ConfigError as exc:
        if prefix and not exc.message.startswith(prefix):
            raise ConfigError(f"{prefix}scorer {name!r}: {exc.message}", hint=exc.hint) from None
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{prefix}scorer {name!r}: {exc}") from None


def _signature(factory: ScorerFactory) -> inspect.Signature:
    """The factory's signature with string annotations resolved where possible."""
    try:
        return inspect.signature(factory, eval_str=True)
    except (NameError, TypeError, SyntaxError):
        return inspect.signature(factory)


def _checked_option(scorer_name: str, param: inspect.Parameter, value, prefix: str):
    """Refuse a non-boolean for a boolean option (``ignore_case: maybe`` would silently count as true).

    Everything else is left to the factory, which knows its options best (some
    take a string where a list is annotated); the value is never converted.
    """
    annotation = param.annotation
    if annotation is inspect.Parameter.empty or isinstance(annotation, str) or value is None:
        return value
    allowed = set(getattr(annotation, "__args__", ()) or (annotation,)) - {type(None)}
    if allowed == {bool} and not (isinstance(value, bool) or (type(value) is int and value in (0, 1))):
        raise ConfigError(
            f"{prefix}scorer {scorer_name!r}: option {param.name!r} must be true or false, got {value!r}."
        )
    return value
