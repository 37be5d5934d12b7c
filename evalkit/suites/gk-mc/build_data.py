#!/usr/bin/env python3
"""Build gk-mc/gk_mc.jsonl: 100 hand-written questions plus 400 from CommonsenseQA, in a seeded order.

`handwritten.jsonl` holds the 100 four-option questions written for evalkit (suite version 1),
kept unchanged. The rest are four-option everyday-knowledge questions from CommonsenseQA's
validation split (Talmor, Herzig, Lourie and Berant, NAACL 2019; MIT License), as
`mosaicml/llm-foundry` ships it in
`scripts/eval/local_data/commonsense_reasoning/commonsense_qa.jsonl` (see SOURCE.md), expected
at `shared/data/commonsense_qa/commonsense_qa.jsonl` beside the repository or given with
`--source`. llm-foundry's copy keeps four of each question's five options, written into the
query as "A. ..." to "D. ..." lines; the parser below reads them back.

Selection (deterministic, no model involved):

1. Keep a question of at least MIN_QUESTION_WORDS words whose four options are non-empty,
   at most MAX_OPTION_CHARS characters long and pairwise different (ignoring case).
2. Order the kept questions by sha256 of "commonsense_qa:<line>" and take the first TAKE.

Each row becomes ``{"id": "csqa-<line>", "question": <question>, "choices": <the four options>,
"answer": <gold index>, "category": "commonsense_qa"}``, <line> being its 0-based line
upstream. The file is written in one seeded shuffled order (sha256 of "gk-mc:<id>"), not
grouped by source, because lm-eval's `--limit N` takes the first N documents of the file: a
limit is then an unbiased subset.

    python3 suites/gk-mc/build_data.py --source commonsense_qa.jsonl            # write gk_mc.jsonl
    python3 suites/gk-mc/build_data.py --source commonsense_qa.jsonl --check    # verify it is up to date
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# HERE is <repo>/evalkit/suites/gk-mc; shared/ lies beside the repository.
DEFAULT_SOURCE = HERE.parents[3] / "shared" / "data" / "commonsense_qa" / "commonsense_qa.jsonl"
UPSTREAM_SHA256 = "2771f63f8127c0725b1f6b0ef2cd2ef6469168ae5875fc8d276b25b4f32c8c1a"
HANDWRITTEN = HERE / "handwritten.jsonl"
OUT = HERE / "gk_mc.jsonl"
TAKE = 400
MIN_QUESTION_WORDS = 4
MAX_OPTION_CHARS = 100
LETTERS = ["A", "B", "C", "D"]
# llm-foundry's query: "Question: <q>\nChoices:\nA. <a>\nB. <b>\nC. <c>\nD. <d>\nAnswer:"
QUERY = re.compile(
    r"\AQuestion: (.*?)\nChoices:\nA\. (.*?)\nB\. (.*?)\nC\. (.*?)\nD\. (.*?)\nAnswer:\Z", re.S
)


def _rank(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse(query: str) -> tuple[str, list[str]]:
    """The question and its four options from llm-foundry's ``query``."""
    match = QUERY.match(query)
    if match is None:
        raise ValueError(f"a query is not in llm-foundry's 'Question: ... Choices: A. ... Answer:' form: "
                         f"{query[:60]!r}")
    question, *options = (part.strip() for part in match.groups())
    return question, options


def eligible(question: str, options: list[str]) -> bool:
    """Whether a CommonsenseQA question passes the selection rule's filters (step 1)."""
    if len(question.split()) < MIN_QUESTION_WORDS or len(options) != len(LETTERS):
        return False
    if not all(0 < len(o) <= MAX_OPTION_CHARS for o in options):
        return False
    return len({o.casefold() for o in options}) == len(options)


def select(raw: bytes) -> list[dict]:
    """The selected CommonsenseQA rows (step 2's order) from the upstream file's bytes."""
    kept = []
    for line, text in enumerate(raw.decode("utf-8").splitlines()):
        row = json.loads(text)
        if row["choices"] != LETTERS:
            raise ValueError(f"line {line}: choices must be {LETTERS}, got {row['choices']!r}")
        gold = row["gold"]
        if gold not in range(len(LETTERS)):
            raise ValueError(f"line {line}: gold must be 0..3, got {gold!r}")
        question, options = parse(row["query"])
        if eligible(question, options):
            kept.append((_rank(f"commonsense_qa:{line}"), line, question, options, gold))
    kept.sort()
    return [
        {"id": f"csqa-{line:04d}", "question": question, "choices": options, "answer": gold,
         "category": "commonsense_qa"}
        for _, line, question, options, gold in kept[:TAKE]
    ]


def build(raw: bytes) -> str:
    """The text of gk_mc.jsonl from the hand-written rows and the upstream CommonsenseQA file's bytes."""
    rows = [json.loads(line) for line in HANDWRITTEN.read_text(encoding="utf-8").splitlines() if line.strip()]
    picked = select(raw)
    if len(picked) < TAKE:
        raise ValueError(f"only {len(picked)} questions pass the filters, {TAKE} needed")
    rows += picked
    rows.sort(key=lambda row: _rank(f"gk-mc:{row['id']}"))
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` verify) gk_mc.jsonl; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="llm-foundry's commonsense_qa.jsonl")
    parser.add_argument("--check", action="store_true", help="verify gk_mc.jsonl instead of writing it")
    args = parser.parse_args(argv)
    if not args.source.is_file():
        print(f"error: {args.source} not found (give CommonsenseQA's commonsense_qa.jsonl with --source; "
              "see SOURCE.md)", file=sys.stderr)
        return 2
    raw = args.source.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != UPSTREAM_SHA256:
        print(f"warning: {args.source} has sha256 {digest}, expected {UPSTREAM_SHA256}", file=sys.stderr)
    try:
        text = build(raw)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        print(f"error: {args.source}: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if not OUT.is_file() or OUT.read_text(encoding="utf-8") != text:
            print("gk_mc.jsonl is out of date", file=sys.stderr)
            return 1
        print("gk-mc data is up to date")
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {text.count(chr(10))} questions to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
