"""Text-similarity and shape scorers: ``length``, ``rouge``, ``bleu``."""

from __future__ import annotations

import functools
import re

from evalkit.errors import ConfigError
from evalkit.scorers.base import ScoreFn, scorer
from evalkit.scorers.extract import never_crash, output_text, target_strings
from evalkit.types import Generation, Sample, Score

_UNITS = ("words", "chars", "tokens")
_ROUGE = re.compile(r"rouge(?:[1-9]|L|Lsum)")


def _bound(value: object, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"option {name!r} must be a number >= 0, got {value!r}.")
    return value


@scorer("length")
def length(
    *,
    min: float | None = None,
    max: float | None = None,  # noqa: A002 - option names
    unit: str = "words",
) -> ScoreFn:
    """The output's length lies within ``[min, max]`` (either bound optional).

    ``unit`` is ``words`` (whitespace-separated), ``chars`` or ``tokens``;
    ``tokens`` uses ``generation.new_tokens`` when the backend reported it
    (> 0), else falls back to the word count and says so. With a bound the
    score is pass/fail; with no bound, value is the length and passed is None.
    """
    lo, hi = _bound(min, "min"), _bound(max, "max")
    if lo is not None and hi is not None and lo > hi:
        raise ConfigError(f"option 'min' ({lo}) is greater than 'max' ({hi}).")
    if unit not in _UNITS:
        raise ConfigError(f"option 'unit' must be one of {list(_UNITS)}, got {unit!r}.")

    @never_crash("length")
    def score(sample: Sample, generation: Generation) -> Score:
        text = output_text(generation)
        note = ""
        if unit == "chars":
            count, used = len(text), "chars"
        elif unit == "tokens" and isinstance(generation.new_tokens, int) and generation.new_tokens > 0:
            count, used = generation.new_tokens, "tokens"
        else:
            count, used = len(text.split()), "words"
            if unit == "tokens":
                note = " (no token count from the backend; counted words instead)"
        details = {"count": count, "unit": used}
        if lo is None and hi is None:
            return Score(
                value=float(count), passed=None, explanation=f"{count} {used}{note}", details=details
            )
        problems = []
        if lo is not None and count < lo:
            problems.append(f"fewer than min {lo:g}")
        if hi is not None and count > hi:
            problems.append(f"more than max {hi:g}")
        ok = not problems
        verdict = "within bounds" if ok else " and ".join(problems)
        return Score(
            value=1.0 if ok else 0.0,
            passed=ok,
            explanation=f"{count} {used}: {verdict}{note}",
            details=details,
        )

    return score


@functools.lru_cache(maxsize=8)
def _rouge_scorer(variant: str):
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer([variant])


@scorer("rouge")
def rouge(*, variant: str = "rougeL") -> ScoreFn:
    """ROUGE F-measure (0..1) of the output against the target via the ``rouge_score`` package.

    ``variant`` is ``rouge1``..``rouge9``, ``rougeL`` or ``rougeLsum``; with a
    list of references the best one counts. Continuous: passed is None. Note
    ``rouge_score`` keeps only ASCII letters and digits when tokenizing.
    """
    if not isinstance(variant, str) or not _ROUGE.fullmatch(variant):
        raise ConfigError(f"option 'variant' must be rouge1..rouge9, rougeL or rougeLsum, got {variant!r}.")
    _rouge_scorer(variant)

    @never_crash("rouge")
    def score(sample: Sample, generation: Generation) -> Score:
        refs = target_strings(sample.target)
        if not refs:
            return Score.failed("rouge: the sample has no reference text")
        result = _rouge_scorer(variant).score_multi(refs, output_text(generation))[variant]
        value = float(result.fmeasure)
        return Score(
            value=value,
            passed=None,
            explanation=f"{variant} F={value:.4f} (P={result.precision:.4f}, R={result.recall:.4f})",
            details={"precision": float(result.precision), "recall": float(result.recall)},
        )

    return score


@scorer("bleu")
def bleu() -> ScoreFn:
    """Sentence BLEU (0..100) of the output against the target reference(s) via ``sacrebleu``.

    Continuous: passed is None.
    """
    import sacrebleu

    @never_crash("bleu")
    def score(sample: Sample, generation: Generation) -> Score:
        refs = target_strings(sample.target)
        if not refs:
            return Score.failed("bleu: the sample has no reference text")
        result = sacrebleu.sentence_bleu(output_text(generation), refs)
        return Score(
            value=float(result.score),
            passed=None,
            explanation=f"BLEU {result.score:.2f}",
            details={"bp": float(result.bp), "precisions": [float(p) for p in result.precisions]},
        )

    return score
