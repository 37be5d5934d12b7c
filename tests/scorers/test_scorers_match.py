"""exact_match, choice, contains, not_contains and regex."""

from __future__ import annotations

import pytest

from evalkit.errors import ConfigError


@pytest.mark.parametrize(
    ("options", "target", "text", "passed"),
    [
        ({}, "Paris", "paris", True),
        ({}, "Paris", "  Paris \n", True),
        ({}, "New York", "new   york", True),
        ({}, "New York", "NewYork", False),
        ({"ignore_case": False}, "Paris", "paris", False),
        ({"ignore_whitespace": False}, "Paris", "Paris\n", False),
        ({}, "Paris", "Paris.", False),
        ({"ignore_punctuation": True}, "Paris", "Paris.", True),
        ({"ignore_punctuation": True}, "don't", "dont", True),
        ({}, ["Paris", "Paris, France"], "paris, france", True),
        ({}, ["Paris", "Lyon"], "Nice", False),
        ({}, 42, "42", True),
        ({}, 3.0, "3", True),
        ({}, 2.5, "2.5", True),
        ({}, True, "true", True),
        ({"extract": r"answer is (\w+)"}, "B", "I think the answer is B because", True),
        ({"extract": r"answer is (\w+)"}, "B", "I think the answer is C", False),
        ({"extract": r"####\s*\S+"}, "#### 42", "work... #### 42", True),
        ({"extract": r"#### (\S+)", "numeric_tolerance": 0}, 1234, "so #### 1,234", True),
        ({"numeric_tolerance": 0.01}, "3.14159", "3.14", True),
        ({"numeric_tolerance": 0.001}, "3.14159", "3.14", False),
        ({"numeric_tolerance": 0.5}, 10, "$10.4", True),
        ({"numeric_tolerance": 0.5}, "ten", "ten", True),
        ({"numeric_tolerance": 0.5}, [1, 2], "2", True),
        ({}, "3", "3.0", False),
    ],
)
def test_exact_match(run, options, target, text, passed):
    score = run("exact_match", text, target, **options)
    assert score.passed is passed
    assert score.value == (1.0 if passed else 0.0)
    assert score.error is None


def test_exact_match_explains_the_comparison(run):
    assert run("exact_match", "London", "Paris").explanation == "expected 'paris', got 'london'"
    multi = run("exact_match", "Rome", ["Paris", "Lyon"]).explanation
    assert multi == "expected one of ['paris', 'lyon'], got 'rome'"
    missing = run("exact_match", "no number here", "1", extract=r"#### (\d+)")
    assert missing.passed is False and "found no answer" in missing.explanation


def test_exact_match_without_target_is_an_error_not_a_zero(run):
    score = run("exact_match", "anything", None)
    assert score.value is None and score.error


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"extract": "(unclosed"}, "invalid regular expression"),
        ({"numeric_tolerance": -1}, "numeric_tolerance"),
        ({"ignore_cse": True}, "did you mean 'ignore_case'"),
    ],
)
def test_exact_match_config_errors(run, options, message):
    with pytest.raises(ConfigError, match=message):
        run("exact_match", "x", "x", **options)


@pytest.mark.parametrize(
    ("options", "target", "text", "passed", "picked"),
    [
        ({}, "B", "The answer is B.", True, "B"),
        ({}, "B", "I think a good answer is B", True, "B"),
        ({}, "B", "answer: b", True, "B"),
        ({}, "C", "(A) seems right", False, "A"),
        ({}, "B", "Both A and B are plausible", False, "A"),
        ({"labels": ["yes", "no"]}, "yes", "YES, definitely", True, "yes"),
        ({"labels": ["yes", "no"], "ignore_case": False}, "yes", "YES, definitely", False, None),
        ({}, "A", "Apple is no label", False, None),
        ({}, 1, "I pick B", True, "B"),
        ({"extract": r"Answer:\s*(\w+)"}, "D", "A is wrong. Answer: D", True, "D"),
        ({"extract": r"Answer:\s*(.+)"}, "D", "Answer: option D", True, "D"),
        (
            {"labels": ["positive", "negative", "neutral"]},
            "negative",
            "Sentiment: negative.",
            True,
            "negative",
        ),
    ],
)
def test_choice(run, options, target, text, passed, picked):
    options = {"labels": ["A", "B", "C", "D"], **options}
    score = run("choice", text, target, **options)
    assert score.passed is passed
    assert score.details["picked"] == picked


def test_choice_explains_missing_and_multiple_labels(run):
    none = run("choice", "I don't know", "A", labels=["A", "B"])
    assert none.passed is False and "no label of ['A', 'B'] found" in none.explanation
    several = run("choice", "B, or maybe A", "B", labels=["A", "B"])
    assert several.passed is True and "several labels found: ['B', 'A']" in several.explanation
    nomatch = run("choice", "nothing", "A", labels=["A"], extract=r"Answer: (\w)")
    assert nomatch.passed is False and "found no answer" in nomatch.explanation


def test_choice_target_must_be_a_label(run):
    score = run("choice", "A", "Z", labels=["A", "B"])
    assert score.error and "not one of the labels" in score.error


@pytest.mark.parametrize("labels", [[], "AB", ["A", ""], None])
def test_choice_bad_labels(run, labels):
    with pytest.raises(ConfigError, match="labels"):
        run("choice", "A", "A", labels=labels)


@pytest.mark.parametrize(
    ("options", "target", "text", "passed"),
    [
        ({}, "paris", "The capital is Paris.", True),
        ({"ignore_case": False}, "paris", "The capital is Paris.", False),
        ({}, ["Rome", "Paris"], "The capital is Paris.", True),
        ({"all": True}, ["Rome", "Paris"], "The capital is Paris.", False),
        ({"all": True}, ["Rome", "Paris"], "Paris, not Rome", True),
        ({}, 42, "it is 42", True),
    ],
)
def test_contains(run, options, target, text, passed):
    assert run("contains", text, target, **options).passed is passed


@pytest.mark.parametrize(
    ("options", "target", "text", "passed"),
    [
        ({"strings": ["As an AI"]}, None, "as an ai language model, I...", False),
        ({"strings": ["As an AI"], "ignore_case": False}, None, "as an ai language model", True),
        ({"strings": "sorry"}, None, "Sure, here it is", True),
        ({}, ["password", "secret"], "the secret is out", False),
        ({"all": True}, ["password", "secret"], "the secret is out", True),
        ({"all": True}, ["password", "secret"], "secret password", False),
    ],
)
def test_not_contains(run, options, target, text, passed):
    assert run("not_contains", text, target, **options).passed is passed


def test_contains_explanations_and_missing_target(run):
    assert run("contains", "abc", ["x", "y"]).explanation == "missing ['x', 'y']"
    assert (
        run("not_contains", "a secret", None, strings=["secret"]).explanation == "found forbidden ['secret']"
    )
    assert run("contains", "abc", None).error
    assert run("not_contains", "abc", None).error
    with pytest.raises(ConfigError, match="strings"):
        run("not_contains", "abc", None, strings=[""])


@pytest.mark.parametrize(
    ("options", "text", "passed"),
    [
        ({"pattern": r"\d{3}-\d{4}"}, "call 555-1234 now", True),
        ({"pattern": r"\d{3}-\d{4}", "full": True}, "call 555-1234 now", False),
        ({"pattern": r"\d{3}-\d{4}", "full": True}, " 555-1234\n", True),
        ({"pattern": r"^yes$"}, "YES", False),
        ({"pattern": r"^yes$", "flags": "i"}, "YES", True),
        ({"pattern": r"^end$", "flags": "m"}, "first\nend\n", True),
        ({"pattern": r"a.b", "flags": "s"}, "a\nb", True),
    ],
)
def test_regex(run, options, text, passed):
    assert run("regex", text, None, **options).passed is passed


@pytest.mark.parametrize("options", [{"pattern": "("}, {"pattern": "a", "flags": "q"}, {"pattern": ""}])
def test_regex_config_errors(run, options):
    with pytest.raises(ConfigError):
        run("regex", "a", None, **options)
