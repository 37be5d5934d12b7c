"""lm-eval logged samples to evalkit rows: ids, values, answers (no model needed)."""

from __future__ import annotations

from evalkit.lmeval.convert import convert_samples, metric_key, sample_ids, to_number


def _mc(doc_id: int, doc: dict, lls: list[float], target: int, acc: float) -> dict:
    choices = doc["choices"]
    return {
        "doc_id": doc_id, "doc": doc, "target": target,
        "arguments": [["Q: x\nA:", f" {c}"] for c in choices],
        "resps": [[[ll, False]] for ll in lls], "filtered_resps": [[ll, False] for ll in lls],
        "filter": "none", "metrics": ["acc"], "acc": acc,
    }


def test_ids_use_the_docs_own_id_when_unique():
    entries = [{"doc_id": 0, "doc": {"id": "q-7"}}, {"doc_id": 1, "doc": {"id": "q-3"}}]
    assert sample_ids("t", entries) == ({0: "t-q-7", 1: "t-q-3"}, "id")


def test_ids_fall_back_to_doc_id_when_missing_or_duplicated():
    dupes = [{"doc_id": 0, "doc": {"id": "a"}}, {"doc_id": 1, "doc": {"id": "a"}}]
    assert sample_ids("t", dupes) == ({0: "t-0", 1: "t-1"}, "doc_id")
    partial = [{"doc_id": 0, "doc": {"id": "a"}}, {"doc_id": 1, "doc": {"question": "?"}}]
    assert sample_ids("t", partial)[1] == "doc_id"


def test_values_bools_lists_and_non_numbers():
    assert to_number(True) == (1.0, True, {})
    assert to_number(0.0) == (0.0, None, {})
    assert to_number([True, False, True, True])[0] == 0.75
    value, passed, details = to_number((-12.5, 4))
    assert value is None and passed is None and details == {"lm_eval_value": [-12.5, 4]}
    assert to_number(float("nan"))[0] is None


def test_multiple_choice_answer_is_the_most_likely_choice():
    docs = [{"id": "a", "choices": ["Paris", "Rome"]}, {"id": "b", "choices": ["Six", "Eight"]}]
    samples = {"mc": [_mc(1, docs[1], [-3.0, -1.0], 1, 1.0), _mc(0, docs[0], [-5.0, -2.0], 0, 0.0)]}
    out = convert_samples(samples, {"mc": "multiple_choice"}, "acc")
    assert [g["sample_id"] for g in out.generations] == ["mc-a", "mc-b"]  # doc order
    assert [g["text"] for g in out.generations] == ["Rome", "Eight"]
    assert out.generations[0]["loglikelihoods"] == [-5.0, -2.0]
    rows = {r["sample_id"]: r for r in out.scores}
    assert rows["mc-a"]["value"] == 0.0 and rows["mc-a"]["passed"] is False
    assert rows["mc-b"]["passed"] is True
    assert "most likely choice 'Rome', target 'Paris'" in rows["mc-a"]["explanation"]
    assert set(rows["mc-a"]) == {"sample_id", "scorer", "value", "passed", "explanation", "error", "details"}


def test_filters_make_separate_metric_keys_and_the_primary_filter_is_shown():
    base = {"doc_id": 0, "doc": {"q": 1}, "target": "4", "arguments": [["2+2=", {"until": ["\n"]}]],
            "metrics": ["exact_match"]}
    strict = {**base, "filter": "strict-match", "filtered_resps": ["[invalid]"], "exact_match": 0.0}
    flexible = {**base, "filter": "flexible-extract", "filtered_resps": ["4"], "exact_match": 1.0}
    primary = "exact_match,flexible-extract"
    out = convert_samples({"math": [strict, flexible]}, {"math": "generate_until"}, primary)
    assert out.metric_keys == ["exact_match,flexible-extract", "exact_match,strict-match"]
    assert out.generations[0]["text"] == "4" and out.generations[0]["sample_id"] == "math-0"
    assert metric_key("acc", "none") == "acc"
