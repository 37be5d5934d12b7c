"""length, rouge and bleu."""

from __future__ import annotations

import pytest
import sacrebleu

from evalkit.errors import ConfigError


@pytest.mark.parametrize(
    ("options", "text", "new_tokens", "passed", "count", "unit"),
    [
        ({"max": 5}, "one two three", 0, True, 3, "words"),
        ({"max": 2}, "one two three", 0, False, 3, "words"),
        ({"min": 3, "max": 3}, "one\ttwo\nthree", 0, True, 3, "words"),
        ({"min": 4}, "one two three", 0, False, 3, "words"),
        ({"max": 5, "unit": "chars"}, "abcdef", 0, False, 6, "chars"),
        ({"min": 6, "unit": "chars"}, "abcdef", 0, True, 6, "chars"),
        ({"max": 10, "unit": "tokens"}, "a b", 12, False, 12, "tokens"),
        ({"max": 10, "unit": "tokens"}, "a b", 0, True, 2, "words"),
        ({"max": 0}, "", 0, True, 0, "words"),
    ],
)
def test_length(run, options, text, new_tokens, passed, count, unit):
    score = run("length", text, new_tokens=new_tokens, **options)
    assert score.passed is passed
    assert score.details == {"count": count, "unit": unit}


def test_length_notes_and_unbounded(run):
    fallback = run("length", "a b c", unit="tokens", max=10)
    assert "counted words instead" in fallback.explanation
    assert run("length", "a b c", max=2).explanation == "3 words: more than max 2"
    measured = run("length", "a b c d")
    assert measured.value == 4.0 and measured.passed is None


@pytest.mark.parametrize(
    "options", [{"min": 5, "max": 2}, {"unit": "lines"}, {"min": -1}, {"max": "10"}, {"max": True}]
)
def test_length_config_errors(run, options):
    with pytest.raises(ConfigError):
        run("length", "x", **options)


@pytest.mark.parametrize(
    ("variant", "target", "text", "expected"),
    [
        # LCS "the cat on the mat" = 5 of 6 tokens each side: P = R = F = 5/6.
        ("rougeL", "the cat sat on the mat", "the cat lay on the mat", 5 / 6),
        # unigrams: 3 shared of 4 (hyp) and 3 (ref): P = 3/4, R = 1, F = 2PR/(P+R) = 6/7.
        ("rouge1", "a b c", "a b c d", 6 / 7),
        # bigrams of hyp {ab, bc, cd}, ref {ab, bc}: P = 2/3, R = 1, F = 0.8.
        ("rouge2", "a b c", "a b c d", 0.8),
        ("rougeL", "completely different", "nothing shared", 0.0),
        ("rougeL", "The Cat!", "the cat", 1.0),
        # best of several references
        ("rouge1", ["x y z", "a b c"], "a b c d", 6 / 7),
    ],
)
def test_rouge_hand_computed(run, variant, target, text, expected):
    score = run("rouge", text, target, variant=variant)
    assert score.value == pytest.approx(expected)
    assert score.passed is None


def test_rouge_errors(run):
    assert run("rouge", "text", None).error
    with pytest.raises(ConfigError, match="variant"):
        run("rouge", "x", "x", variant="rougeX")


@pytest.mark.parametrize(
    ("hypothesis", "references"),
    [
        ("the cat lay on the mat", ["the cat sat on the mat"]),
        ("The quick brown fox jumps over the lazy dog.", ["A quick brown fox jumped over the lazy dog."]),
        ("the cat lay on the mat", ["the cat sat on the mat", "a cat lay on the mat"]),
    ],
)
def test_bleu_equals_sacrebleu_corpus_bleu_on_one_sentence(run, hypothesis, references):
    expected = sacrebleu.corpus_bleu([hypothesis], [[r] for r in references]).score
    score = run("bleu", hypothesis, references if len(references) > 1 else references[0])
    assert score.value == pytest.approx(expected)
    assert 0 < score.value < 100 and score.passed is None


def test_bleu_bounds(run):
    assert run("bleu", "the cat sat on the mat", "the cat sat on the mat").value == pytest.approx(100.0)
    assert run("bleu", "zzz", "the cat sat on the mat").value == 0.0
    assert run("bleu", "x", None).error
