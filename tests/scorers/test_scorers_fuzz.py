"""Every built-in scorer turns any output string into a Score, never an exception."""

from __future__ import annotations

import pytest
from evalkit_testing import CHARS_METRIC
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalkit.scorers.builtin import BUILTIN_SCORERS
from evalkit.scorers.registry import build_scorer, scorer_names
from evalkit.types import Generation, Sample, Score

IFEVAL_META = {
    "instruction_id_list": [
        "length_constraints:number_sentences",
        "language:response_language",
        "detectable_format:json_format",
        "change_case:english_capital",
        "keywords:letter_frequency",
        "detectable_format:title",
        "length_constraints:nth_paragraph_first_word",
        "detectable_format:multiple_sections",
        "combination:two_responses",
        "startend:quotation",
        "change_case:capital_word_frequency",
    ],
    "kwargs": [
        {"relation": "at least", "num_sentences": 2},
        {"language": "en"},
        {},
        {},
        {"letter": "a", "let_frequency": 2, "let_relation": "at least"},
        {},
        {"num_paragraphs": 2, "nth_paragraph": 1, "first_word": "hello"},
        {"section_spliter": "Section", "num_sections": 2},
        {},
        {},
        {"capital_frequency": 1, "capital_relation": "at least"},
    ],
}

# (scorer, options, target, metadata)
CASES = [
    (
        "exact_match",
        {"extract": r"answer: (\S+)", "numeric_tolerance": 0.1, "ignore_punctuation": True},
        ["4", "x"],
        None,
    ),
    ("choice", {"labels": ["A", "B", "yes"]}, "A", None),
    ("contains", {"all": True}, ["a", "<b>"], None),
    ("not_contains", {"strings": ["\x00", "ß"]}, None, None),
    ("regex", {"pattern": r"^\s*\{.*\}\s*$", "flags": "s", "full": True}, None, None),
    ("length", {"min": 1, "max": 50, "unit": "tokens"}, None, None),
    ("rouge", {"variant": "rougeLsum"}, ["the cat", "a dog"], None),
    ("bleu", {}, "the cat sat on the mat", None),
    ("json_valid", {"allow_fence": True}, None, None),
    (
        "json_schema",
        {"schema": {"type": "object", "properties": {"a": {"format": "date"}}}, "allow_fence": True},
        None,
        None,
    ),
    ("json_match", {"allow_fence": True}, {"a": 1, "b": {"c": ["x"]}}, None),
    ("hf_evaluate", {"metric": "chars", "threshold": 3}, "ref", None),
    ("ifeval", {"strict": False}, None, IFEVAL_META),
]

HOSTILE = [
    "",
    " ",
    "\x00\x01\x02\x7f",
    "\ud800",
    "\udfff oops \ud83d",
    "<script>alert(1)</script><b>A</b>",
    "{" * 5000,
    "[" * 100_000,
    '{"a": ' * 3000,
    "```json\n" + "{" * 3000 + "\n```",
    "a" * 1_000_000,
    "word " * 100_000,
    "\u202e\u200b\ufeff",
    "نص عربي",
    "日本語のテキスト。二文目。",
    "\r\n\r\n\t",
    "```",
    "{}" * 20_000,
    "Section 1\nSection 2\n\n\n***\n\n",
    "NaN",
    "1e999999",
    "-0",
    "answer: \ud800",
]

TEXT = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=300),
    st.sampled_from(HOSTILE),
    st.text(alphabet='{}[]",:0123456789.eE-abc \n`*#json', max_size=200),
    st.builds(
        lambda a, s, b: a + s + b,
        st.text(max_size=40),
        st.sampled_from(["\ud800", "\udfff", "\ud83d"]),
        st.text(max_size=40),
    ),
)


@pytest.fixture(scope="module")
def scorers(tmp_path_factory):
    """Every built-in scorer, built with options that exercise its extraction paths."""
    suite = tmp_path_factory.mktemp("fuzz_suite")
    (suite / "chars").mkdir()
    (suite / "chars" / "chars.py").write_text(CHARS_METRIC)
    built = {}
    for name, options, target, metadata in CASES:
        fn = build_scorer(name, options, suite_dir=suite)
        built[name] = (fn, Sample(id=name, input="Write hello.", target=target, metadata=metadata or {}))
    return built


def test_every_builtin_scorer_is_fuzzed():
    assert {name for name, *_ in CASES} == set(BUILTIN_SCORERS)
    assert set(BUILTIN_SCORERS) <= set(scorer_names())


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_outputs(scorers, text):
    for name, (fn, sample) in scorers.items():
        score = fn(sample, Generation(sample_id=sample.id, text=text, new_tokens=7))
        assert isinstance(score, Score), name
        assert score.error is None, f"{name}: {score.error}"


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=TEXT)
def test_arbitrary_text_always_yields_a_score(scorers, text):
    for name, (fn, sample) in scorers.items():
        score = fn(sample, Generation(sample_id=sample.id, text=text))
        assert isinstance(score, Score), name
        assert score.error is None, f"{name}: {score.error}"
        if score.value is not None:
            assert score.value == score.value  # never NaN
