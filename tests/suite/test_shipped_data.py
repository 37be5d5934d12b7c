"""The grown forgetting suites: sizes, provenance invariants, and the build scripts' rules and errors."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pytest

from evalkit.suite.loader import SUITES_ROOT

IFEVAL_SOURCE = SUITES_ROOT.parents[2] / "shared" / "data" / "ifeval" / "input_data.jsonl"


def _module(suite: str):
    path = SUITES_ROOT / suite / "build_data.py"
    spec = importlib.util.spec_from_file_location(f"build_{suite.replace('-', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_ifeval_lite_and_ifeval_lm_hold_the_same_541_prompts():
    lite = _rows(SUITES_ROOT / "ifeval-lite" / "data.jsonl")
    lm = _rows(SUITES_ROOT / "ifeval-lm" / "data.jsonl")
    assert len(lite) == 541 and len({r["id"] for r in lite}) == 541
    assert [(r["id"], r["input"]) for r in lite] == [(r["id"], r["prompt"]) for r in lm]
    assert [r["metadata"]["kwargs"] for r in lite] == [r["kwargs"] for r in lm]


@pytest.mark.skipif(not IFEVAL_SOURCE.is_file(), reason="no IFEval input_data.jsonl beside the repository")
def test_ifeval_lite_data_is_exactly_the_upstream_rows():
    module = _module("ifeval-lite")
    assert module.main(["--check"]) == 0
    upstream = {r["key"]: r for r in _rows(IFEVAL_SOURCE)}
    for sample in _rows(SUITES_ROOT / "ifeval-lite" / "data.jsonl"):
        row = upstream[int(sample["id"].removeprefix("ifeval-"))]
        assert sample["input"] == row["prompt"]
        assert sample["metadata"]["instruction_id_list"] == row["instruction_id_list"]


def test_ifeval_lite_build_refuses_a_missing_or_broken_source(tmp_path, capsys):
    module = _module("ifeval-lite")
    assert module.main(["--source", str(tmp_path / "nope.jsonl"), "--check"]) == 2
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"key": 1}\n')
    assert module.main(["--source", str(broken), "--check"]) == 2
    assert "not IFEval's input_data.jsonl" in capsys.readouterr().err


def test_general_knowledge_keeps_the_hand_written_120_and_adds_380_wikidata_facts():
    rows = _rows(SUITES_ROOT / "general-knowledge" / "data.jsonl")
    handwritten = _rows(SUITES_ROOT / "general-knowledge" / "handwritten.jsonl")
    assert len(rows) == 500 and len({r["id"] for r in rows}) == 500
    assert rows[:120] == handwritten and len(handwritten) == 120
    facts = rows[120:]
    assert all(r["id"].startswith("wd-") and r["metadata"]["category"] == "wikidata" for r in facts)
    relations = {}
    for row in facts:
        relations[row["metadata"]["relation"]] = relations.get(row["metadata"]["relation"], 0) + 1
    assert len(relations) == 19 and set(relations.values()) == {20}
    assert not any("relation" in r.get("metadata", {}) for r in handwritten)  # each its own cluster
    for row in rows:  # echoing the question never scores
        assert not any(t.casefold() in row["input"].casefold() for t in row["target"]), row["id"]


def test_general_knowledge_clusters_on_the_relation():
    from evalkit.suite.loader import load_suite

    suite = load_suite("general-knowledge", build_scorers=False)
    assert suite.spec.cluster_field == "relation" and len(suite.samples) == 500
    prefix = [s.metadata.get("relation") for s in suite.samples[:60]]
    seen = [r for i, r in enumerate(prefix) if r is not None and (i == 0 or prefix[i - 1] != r)]
    assert len(seen) == len(set(seen))  # a relation's statements come together in the seeded order


def _statement(text: str, answer: str) -> str:
    return json.dumps({"context": text, "continuation": answer})


def test_general_knowledge_selection_rule():
    module = _module("general-knowledge")
    assert module.relation_of("The languages spoken, written or signed by X is") == "languages spoken"
    assert module.eligible("The capital of Kenya is", "Nairobi")
    assert not module.eligible("The capital of Kenya is", "Nai")  # too short: substring hits
    assert not module.eligible("The capital of Nairobi County is", "Nairobi")  # answer in the statement
    assert not module.eligible("Kenya's capital is", "Nairobi")
    assert not module.eligible("The capital of " + " ".join(["word"] * 12) + " is", "Nairobi")
    lines = [_statement(f"The rel{r} of thing {i} is", f"answer {i}") for r in range(module.RELATIONS + 2)
             for i in range(module.PER_RELATION + r)]
    picked = module.select("\n".join(lines).encode())
    assert len(picked) == module.TAKE
    # the relations with the most statements; within one, hash order, not file order
    largest = {f"rel{r} of" for r in range(2, module.RELATIONS + 2)}
    assert {p["metadata"]["relation"] for p in picked} == largest
    first = [p["id"] for p in picked if p["metadata"]["relation"] == "rel2 of"]
    assert len(first) == module.PER_RELATION and first != sorted(first)
    assert module.main(["--source", "/nonexistent/qa.jsonl"]) == 2


def test_gk_mc_keeps_the_hand_written_100_and_adds_400_commonsense_qa_questions():
    rows = _rows(SUITES_ROOT / "gk-mc" / "gk_mc.jsonl")
    handwritten = _rows(SUITES_ROOT / "gk-mc" / "handwritten.jsonl")
    by_id = {r["id"]: r for r in rows}
    assert len(rows) == 500 and len(by_id) == 500
    assert all(by_id[r["id"]] == r for r in handwritten) and len(handwritten) == 100
    csqa = [r for r in rows if r["id"].startswith("csqa-")]
    assert len(csqa) == 400 and all(r["category"] == "commonsense_qa" for r in csqa)
    assert all(len(r["choices"]) == 4 and len({c.casefold() for c in r["choices"]}) == 4 for r in csqa)
    assert not any("piqa" in r["id"] or r["category"] == "piqa" for r in rows)  # PIQA (unclear license)
    assert all(set(r) == {"id", "question", "choices", "answer", "category"} for r in rows)  # one schema
    assert all(0 <= r["answer"] < len(r["choices"]) for r in rows)
    assert all(sum(r["answer"] == k for r in csqa) >= 50 for k in range(4))  # every position is gold
    # one shuffled order (lm-eval's --limit takes the first N): the first 100 mix both parts
    assert 5 < sum(r["id"].startswith("gkmc-") for r in rows[:100]) < 50
    suite = (SUITES_ROOT / "gk-mc" / "suite.yaml").read_text(encoding="utf-8")
    assert 'version: "3"' in suite and "CommonsenseQA" in suite and "PIQA" not in suite


# llm-foundry's copy (Apache-2.0) of CommonsenseQA (MIT), byte for byte: see tests/data/upstream/README.md
CSQA_SOURCE = Path(__file__).resolve().parents[1] / "data" / "upstream" / "commonsense_qa.jsonl"


def test_gk_mc_data_is_rebuilt_exactly_from_the_upstream_file():
    assert _module("gk-mc").main(["--source", str(CSQA_SOURCE), "--check"]) == 0


def _csqa_line(question: str, options: list[str], gold: int) -> str:
    letters = "".join(f"{letter}. {option}\n" for letter, option in zip("ABCD", options))
    return json.dumps({"query": f"Question: {question}\nChoices:\n{letters}Answer:",
                       "choices": ["A", "B", "C", "D"], "gold": gold})


def test_gk_mc_selection_rule_and_errors(tmp_path, capsys):
    module = _module("gk-mc")
    options = ["fridge", "oven", "car", "bed"]
    line = _csqa_line("Where do you keep milk?", options, 0)
    assert module.parse(json.loads(line)["query"]) == ("Where do you keep milk?", options)
    assert module.eligible("Where do you keep milk?", ["fridge", "oven", "car", "bed"])
    assert not module.eligible("Milk where?", ["fridge", "oven", "car", "bed"])  # too short to be a question
    assert not module.eligible("Where do you keep milk?", ["fridge", "Fridge", "car", "bed"])  # a repeat
    assert not module.eligible("Where do you keep milk?", ["x" * 101, "oven", "car", "bed"])
    assert not module.eligible("Where do you keep milk?", ["fridge", "oven", "car"])
    lines = [_csqa_line(f"Where do I put thing {i}?", [f"box {i}", f"bag {i}", f"jar {i}", f"cup {i}"], i % 4)
             for i in range(450)]
    lines.insert(3, _csqa_line("Thing where?", ["a", "b", "c", "d"], 0))
    text = module.build("\n".join(lines).encode())
    rows = [json.loads(line) for line in text.splitlines()]
    assert len(rows) == 100 + module.TAKE and not any(r["question"] == "Thing where?" for r in rows)
    ranks = [hashlib.sha256(f"gk-mc:{r['id']}".encode()).hexdigest() for r in rows]
    assert ranks == sorted(ranks)
    picked = module.select("\n".join(lines).encode())
    lines_kept = [int(r["id"].split("-")[1]) for r in picked]
    assert lines_kept != sorted(lines_kept)  # hash order, not file order
    kinds = ["box", "bag", "jar", "cup"]
    for r in picked:  # the gold index points at the same option as upstream
        assert r["choices"][r["answer"]] == f"{kinds[r['answer']]} {r['question'].split()[-1][:-1]}"
    few = tmp_path / "few.jsonl"
    few.write_text("\n".join(lines[:50]))
    assert module.main(["--source", str(few), "--check"]) == 2
    assert "needed" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"query": "no choices here", "choices": ["A", "B", "C", "D"], "gold": 0}))
    assert module.main(["--source", str(bad), "--check"]) == 2
    letters = tmp_path / "letters.jsonl"
    letters.write_text(json.dumps({"query": "Question: a b c d?\nAnswer:", "choices": ["y", "n"], "gold": 0}))
    assert module.main(["--source", str(letters), "--check"]) == 2
    assert module.main(["--source", str(tmp_path / "none.jsonl"), "--check"]) == 2
