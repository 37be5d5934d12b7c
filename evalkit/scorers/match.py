"""String-matching scorers: ``exact_match``, ``choice``, ``contains``, ``not_contains``, ``regex``.

All are pass/fail (value 1.0 or 0.0) and explain what was compared.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from evalkit.errors import ConfigError
from evalkit.scorers.base import ScoreFn, scorer
from evalkit.scorers.extract import (
    compile_regex,
    extract_answer,
    format_target,
    never_crash,
    normalize,
    output_text,
    parse_number,
    short,
    target_strings,
)
from evalkit.types import Generation, Sample, Score


@scorer("exact_match")
def exact_match(
    *,
    ignore_case: bool = True,
    ignore_whitespace: bool = True,
    ignore_punctuation: bool = False,
    extract: str | None = None,
    numeric_tolerance: float | None = None,
) -> ScoreFn:
    """The output (or the part ``extract`` captures) equals the target.

    ``sample.target`` is a string, a number or a list of acceptable answers.
    ``extract`` is a regex; its group 1 (or the whole match) is the answer.
    With ``numeric_tolerance`` set, answer and target are compared as numbers
    (``|a - b| <= tolerance``) whenever both parse as numbers.
    """
    pattern = compile_regex(extract, option="extract") if extract is not None else None
    if numeric_tolerance is not None and (
        isinstance(numeric_tolerance, bool)
        or not isinstance(numeric_tolerance, (int, float))
        or numeric_tolerance < 0
    ):
        raise ConfigError(f"option 'numeric_tolerance' must be a number >= 0, got {numeric_tolerance!r}.")
    flags = dict(
        ignore_case=ignore_case, ignore_whitespace=ignore_whitespace, ignore_punctuation=ignore_punctuation
    )

    @never_crash("exact_match")
    def score(sample: Sample, generation: Generation) -> Score:
        targets = target_strings(sample.target)
        if not targets:
            return Score.failed("exact_match: the sample has no target")
        text = output_text(generation)
        answer = text
        if pattern is not None:
            answer = extract_answer(pattern, text)
            if answer is None:
                return Score.of_bool(
                    False, f"extract pattern {pattern.pattern!r} found no answer in {short(text)}"
                )
        got = normalize(answer, **flags)
        for target in targets:
            if numeric_tolerance is not None:
                a, b = parse_number(answer), parse_number(target)
                if a is not None and b is not None:
                    if abs(a - b) <= numeric_tolerance:
                        return Score.of_bool(
                            True, f"{short(answer)} is within {numeric_tolerance} of {short(target)}"
                        )
                    continue
            if normalize(target, **flags) == got:
                return Score.of_bool(True, f"matched {short(normalize(target, **flags))}")
        expected = [normalize(t, **flags) for t in targets]
        wanted = short(expected[0]) if len(expected) == 1 else f"one of {short(expected, 160)}"
        return Score.of_bool(False, f"expected {wanted}, got {short(got)}")

    return score


@functools.lru_cache(maxsize=1024)
def _label_pattern(label: str, ignore_case: bool) -> re.Pattern:
    return re.compile(r"(?<!\w)" + re.escape(label) + r"(?!\w)", re.IGNORECASE if ignore_case else 0)


def _find_labels(text: str, labels: list[str], ignore_case: bool) -> list[str]:
    """Labels found as whole words, in order of first appearance.

    Case-sensitive hits are preferred: only when none is found and
    ``ignore_case`` is set is the search repeated ignoring case (so the article
    "a" does not count as label "A" when "B" also appears).
    """
    for fold in [False, True] if ignore_case else [False]:
        hits = []
        for label in labels:
            match = _label_pattern(label, fold).search(text)
            if match:
                hits.append((match.start(), -len(label), label))
        if hits:
            return [label for _, _, label in sorted(hits)]
    return []


@scorer("choice")
def choice(*, labels: list[str], ignore_case: bool = True, extract: str | None = None) -> ScoreFn:
    """The output picks one of ``labels`` and it is the target label.

    The pick is the first label appearing as a whole word (or, with
    ``extract``, the captured text, which must be or contain a label). A target
    that is not a label but an integer in range is taken as a label index.
    """
    if (
        not isinstance(labels, (list, tuple))
        or not labels
        or not all(isinstance(x, str) and x for x in labels)
    ):
        raise ConfigError(f"option 'labels' must be a non-empty list of non-empty strings, got {labels!r}.")
    labels = [str(x) for x in labels]
    pattern = compile_regex(extract, option="extract") if extract is not None else None

    def canon(value: str) -> str:
        return value.strip().casefold() if ignore_case else value.strip()

    def target_label(target: Any) -> str | None:
        for label in labels:
            if target is not None and canon(format_target(target)) == canon(label):
                return label
        if isinstance(target, int) and not isinstance(target, bool) and 0 <= target < len(labels):
            return labels[target]
        return None

    @never_crash("choice")
    def score(sample: Sample, generation: Generation) -> Score:
        expected = target_label(sample.target)
        if expected is None:
            return Score.failed(f"choice: target {short(sample.target)} is not one of the labels {labels}")
        text = output_text(generation)
        if pattern is not None:
            answer = extract_answer(pattern, text)
            if answer is None:
                return Score.of_bool(
                    False, f"extract pattern {pattern.pattern!r} found no answer in {short(text)}"
                )
            exact = [label for label in labels if canon(label) == canon(answer)]
            found = exact or _find_labels(answer, labels, ignore_case)
        else:
            found = _find_labels(text, labels, ignore_case)
        if not found:
            return Score(
                value=0.0,
                passed=False,
                explanation=f"no label of {labels} found in {short(text)}",
                details={"picked": None, "found": []},
            )
        picked = found[0]
        note = f" (several labels found: {found}; the first counts)" if len(found) > 1 else ""
        ok = canon(picked) == canon(expected)
        verdict = f"picked {picked!r}" if ok else f"expected {expected!r}, picked {picked!r}"
        return Score(
            value=1.0 if ok else 0.0,
            passed=ok,
            explanation=verdict + note,
            details={"picked": picked, "found": found},
        )

    return score


def _contains_check(strings: list[str], text: str, ignore_case: bool) -> tuple[list[str], list[str]]:
    hay = text.casefold() if ignore_case else text
    found, missing = [], []
    for s in strings:
        (found if (s.casefold() if ignore_case else s) in hay else missing).append(s)
    return found, missing


def _check_strings(value: Any, option: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(x, str) and x for x in value):
        raise ConfigError(f"option {option!r} must be a non-empty string or list of non-empty strings.")
    return list(value)


@scorer("contains")
def contains(*, ignore_case: bool = True, all: bool = False) -> ScoreFn:  # noqa: A002 - option name
    """The target string (or any of a list, or every one with ``all=True``) occurs in the output."""

    @never_crash("contains")
    def score(sample: Sample, generation: Generation) -> Score:
        strings = [s for s in target_strings(sample.target) if s]
        if not strings:
            return Score.failed("contains: the sample has no target string to look for")
        found, missing = _contains_check(strings, output_text(generation), ignore_case)
        ok = not missing if all else bool(found)
        if ok:
            return Score.of_bool(True, f"found {short(found, 160)}")
        return Score.of_bool(
            False, f"missing {short(missing, 160)}" + (f" (found {short(found)})" if found else "")
        )

    return score


@scorer("not_contains")
def not_contains(*, strings: list[str] | None = None, ignore_case: bool = True, all: bool = False) -> ScoreFn:  # noqa: A002 - option name
    """The negation of ``contains``: passes when no string occurs (or, with ``all``, not all of them).

    The strings come from the ``strings`` option, else from ``sample.target``.
    """
    fixed = _check_strings(strings, "strings")

    @never_crash("not_contains")
    def score(sample: Sample, generation: Generation) -> Score:
        forbidden = fixed if fixed is not None else [s for s in target_strings(sample.target) if s]
        if not forbidden:
            return Score.failed("not_contains: no 'strings' option and no target string to look for")
        found, missing = _contains_check(forbidden, output_text(generation), ignore_case)
        ok = bool(missing) if all else not found
        if ok:
            return Score.of_bool(
                True,
                "none of the strings found"
                if not found
                else f"not all strings found (missing {short(missing)})",
            )
        return Score.of_bool(False, f"found forbidden {short(found, 160)}")

    return score


@scorer("regex")
def regex(*, pattern: str, flags: str = "", full: bool = False) -> ScoreFn:
    """The output matches ``pattern`` (anywhere, or entirely with ``full``; ends are stripped then).

    ``flags`` is a string of letters: i, m, s, x, a.
    """
    compiled = compile_regex(pattern, flags)

    @never_crash("regex")
    def score(sample: Sample, generation: Generation) -> Score:
        text = output_text(generation)
        match = compiled.fullmatch(text.strip()) if full else compiled.search(text)
        if match:
            return Score.of_bool(True, f"matched {short(match.group(0))}")
        how = "fully match" if full else "match"
        return Score.of_bool(False, f"output does not {how} {pattern!r}: {short(text)}")

    return score
