"""Shared helpers for the built-in scorers: answer extraction, normalisation, JSON finding.

Everything here is total on arbitrary strings (HTML, control characters,
invalid surrogates, megabytes of text): helpers return ``None`` or a message
instead of raising, so scorers can always turn the outcome into a
:class:`~evalkit.types.Score`.
"""

from __future__ import annotations

import functools
import json
import math
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from evalkit.errors import ConfigError
from evalkit.types import Generation, Sample, Score

_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE, "a": re.ASCII}
_WS = re.compile(r"\s+")
_FENCE = re.compile(r"```[ \t]*(?:json|JSON|json5|jsonc)?[ \t]*\r?\n?(.*?)```", re.DOTALL)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_MAX_OBJECT_STARTS = 20


def compile_regex(pattern: Any, flags: str = "", *, option: str = "pattern") -> re.Pattern:
    """Compile a user-supplied regex, turning mistakes into a ConfigError naming ``option``.

    ``flags`` is a string of letters: ``i`` (ignore case), ``m`` (multiline),
    ``s`` (dot matches newline), ``x`` (verbose), ``a`` (ASCII classes).
    """
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(f"option {option!r} must be a non-empty regular expression string.")
    if not isinstance(flags, str):
        raise ConfigError(f"regex flags must be a string of letters from {''.join(_FLAGS)!r}, got {flags!r}.")
    value = 0
    for letter in flags.lower():
        if letter not in _FLAGS:
            raise ConfigError(f"unknown regex flag {letter!r}; use letters from {''.join(_FLAGS)!r}.")
        value |= _FLAGS[letter]
    try:
        return re.compile(pattern, value)
    except re.error as exc:
        raise ConfigError(f"option {option!r}: invalid regular expression {pattern!r}: {exc}.") from None


def extract_answer(pattern: re.Pattern, text: str) -> str | None:
    """The first match of ``pattern`` in ``text``: group 1 if the pattern has groups, else the match.

    Returns None when nothing matches (or group 1 did not take part in the match).
    """
    match = pattern.search(text)
    if match is None:
        return None
    if pattern.groups:
        return match.group(1)
    return match.group(0)


def normalize(
    text: str, *, ignore_case: bool = True, ignore_whitespace: bool = True, ignore_punctuation: bool = False
) -> str:
    """Normalise text for comparison.

    ``ignore_case`` case-folds; ``ignore_punctuation`` drops every Unicode
    punctuation character; ``ignore_whitespace`` strips both ends and collapses
    internal whitespace runs to a single space (words stay separated).
    """
    if ignore_case:
        text = text.casefold()
    if ignore_punctuation:
        text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    if ignore_whitespace:
        text = _WS.sub(" ", text).strip()
    return text


def parse_number(text: Any) -> float | None:
    """Parse a number written by a person or a model: ``42``, ``-3.5``, ``1,234``, ``$12``, ``50%``.

    Returns None for anything else, including NaN and infinities.
    """
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        value = float(text)
        return value if math.isfinite(value) else None
    if not isinstance(text, str):
        return None
    cleaned = text.strip().rstrip(".").strip()
    cleaned = cleaned.lstrip("$€£¥").rstrip("%").strip()
    cleaned = re.sub(r"(?<=\d),(?=\d{3}\b)", "", cleaned)
    if not _NUMBER.fullmatch(cleaned):
        return None
    value = float(cleaned)
    return value if math.isfinite(value) else None


def format_target(value: Any) -> str:
    """Render one target value as text (integral floats lose their ``.0``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def target_strings(target: Any) -> list[str]:
    """All acceptable answers in ``target``: a string, a number or a (nested) list of them."""
    if target is None:
        return []
    if isinstance(target, (list, tuple)):
        return [s for item in target for s in target_strings(item)]
    return [format_target(target)]


def output_text(generation: Generation) -> str:
    """The generation's text, always a ``str`` (defensive against malformed records)."""
    text = generation.text
    return text if isinstance(text, str) else ("" if text is None else str(text))


def without_lone_surrogates(text: str) -> str:
    """``text`` with unpaired UTF-16 surrogates replaced by U+FFFD, so it can be encoded as UTF-8."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def short(value: Any, limit: int = 80) -> str:
    """``repr`` of a value, truncated for use in an explanation."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _loads(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, None


def find_json(text: str, allow_fence: bool = False) -> tuple[Any, str | None, str]:
    """Find a JSON value in a model output.

    Returns ``(value, how, problem)``: ``how`` names what was parsed ("the whole
    output", "a fenced block", "the first {...} object") or is None when nothing
    parsed, in which case ``problem`` says why. With ``allow_fence`` a fenced
    code block and then the first ``{...}`` object are tried after the whole
    output.
    """
    stripped = text.strip()
    try:
        return json.loads(stripped), "the whole output", ""
    except (ValueError, RecursionError) as exc:
        problem = f"not valid JSON ({_describe_json_error(exc)})"
    if not allow_fence:
        return None, None, problem
    for match in _FENCE.finditer(text):
        ok, value = _loads(match.group(1).strip())
        if ok:
            return value, "a fenced block", ""
    decoder = json.JSONDecoder()
    start = text.find("{")
    tries = 0
    while start != -1 and tries < _MAX_OBJECT_STARTS:
        tries += 1
        try:
            value, _ = decoder.raw_decode(text, start)
            return value, "the first {...} object", ""
        except (ValueError, RecursionError):
            start = text.find("{", start + 1)
    return None, None, problem + "; no fenced block or {...} object parsed either"


def _describe_json_error(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)


def never_crash(name: str) -> Callable[[Callable[[Sample, Generation], Score]], Callable]:
    """Wrap a scoring function so an unexpected exception becomes ``Score.failed``.

    Built-in scorers are written not to raise; this is the last line of
    defence, so one odd output cannot abort a whole run. ``EvalkitError``
    (configuration problems found lazily) still propagates.
    """
    from evalkit.errors import EvalkitError

    def wrap(fn: Callable[[Sample, Generation], Score]) -> Callable[[Sample, Generation], Score]:
        @functools.wraps(fn)
        def score(sample: Sample, generation: Generation) -> Score:
            try:
                return fn(sample, generation)
            except EvalkitError:
                raise
            except Exception as exc:  # noqa: BLE001 - the point of this wrapper
                return Score.failed(f"{name}: could not score this output ({type(exc).__name__}: {exc})")

        return score

    return wrap
