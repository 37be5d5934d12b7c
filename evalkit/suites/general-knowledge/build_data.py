#!/usr/bin/env python3
"""Build general-knowledge/data.jsonl: 120 hand-written questions plus 380 Wikidata facts.

`handwritten.jsonl` holds the 120 questions written for evalkit (suite version 1); they are
kept unchanged and first. The rest come from BIG-bench's `qa_wikidata` task (Apache-2.0):
short statements about a Wikidata entity to complete ("The capital of Kenya is" → "Nairobi"),
as `mosaicml/llm-foundry` ships them in
`scripts/eval/local_data/world_knowledge/bigbench_qa_wikidata.jsonl` (see SOURCE.md), expected
at `shared/data/qa-wikidata/bigbench_qa_wikidata.jsonl` beside the repository or given with
`--source`.

Selection (deterministic, no model involved):

1. Keep a statement of at most 15 words that starts with "The ", whose answer has at least 4
   characters (`contains` matches substrings: a short answer could match inside other words)
   and does not occur in the statement (echoing it must not score).
2. Group the kept statements by relation (the two words after "The": "capital of",
   "native language", "sport played", ...). Take the RELATIONS relations with the most
   statements (ties: alphabetical) and from each the first PER_RELATION statements in the order
   of sha256 of "qa-wikidata:<line>". Statements of one relation share a template, so the
   suite clusters on the relation (`cluster_field: relation`).

Each row becomes ``{"id": "wd-<line>", "input": "<statement> …", "target": [<answer>],
"metadata": {"category": "wikidata", "relation": <relation>}}`` where <line> is the
statement's 0-based line in the upstream file.

    python3 suites/general-knowledge/build_data.py --source FILE           # write data.jsonl
    python3 suites/general-knowledge/build_data.py --source FILE --check   # verify it
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# HERE is <repo>/evalkit/suites/general-knowledge; shared/ lies beside the repository.
DEFAULT_SOURCE = HERE.parents[3] / "shared" / "data" / "qa-wikidata" / "bigbench_qa_wikidata.jsonl"
UPSTREAM_SHA256 = "bb0d22727cb25beffb022c8e8c0c3e1159c8b3c7bd7284603c0d6491f8616265"
HANDWRITTEN = HERE / "handwritten.jsonl"
RELATIONS = 19
PER_RELATION = 20
TAKE = RELATIONS * PER_RELATION  # 380
MAX_STATEMENT_WORDS = 15
MIN_ANSWER_CHARS = 4


def _rank(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def relation_of(statement: str) -> str:
    """The relation a statement is about: the two words after its leading "The"."""
    return " ".join(word.strip(",") for word in statement.split()[1:3])


def eligible(statement: str, answer: str) -> bool:
    """Whether a qa_wikidata statement passes the selection rule's filters (step 1)."""
    if not statement.startswith("The ") or len(statement.split()) > MAX_STATEMENT_WORDS:
        return False
    return len(answer) >= MIN_ANSWER_CHARS and answer.casefold() not in statement.casefold()


def select(raw: bytes) -> list[dict]:
    """The selected statements as evalkit samples (step 2) from the upstream file's bytes."""
    groups: dict[str, list[tuple[str, int, str, str]]] = {}
    for line, text in enumerate(raw.decode("utf-8").splitlines()):
        row = json.loads(text)
        statement, answer = row["context"].strip(), row["continuation"].strip()
        if eligible(statement, answer):
            groups.setdefault(relation_of(statement), []).append(
                (_rank(f"qa-wikidata:{line}"), line, statement, answer))
    largest = sorted(groups, key=lambda r: (-len(groups[r]), r))[:RELATIONS]
    picked = []
    for relation in largest:
        rows = sorted(groups[relation])
        picked += [
            {"id": f"wd-{line:05d}", "input": f"{statement} …", "target": [answer],
             "metadata": {"category": "wikidata", "relation": relation}}
            for _, line, statement, answer in rows[:PER_RELATION]
        ]
    return picked[:TAKE]


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` verify) data.jsonl; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="llm-foundry's bigbench_qa_wikidata.jsonl")
    parser.add_argument("--check", action="store_true", help="verify data.jsonl instead of writing it")
    args = parser.parse_args(argv)
    if not args.source.is_file():
        print(f"error: {args.source} not found (give bigbench_qa_wikidata.jsonl with --source; "
              "see SOURCE.md)", file=sys.stderr)
        return 2
    raw = args.source.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != UPSTREAM_SHA256:
        print(f"warning: {args.source} has sha256 {digest}, expected {UPSTREAM_SHA256}", file=sys.stderr)
    try:
        picked = select(raw)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        print(f"error: {args.source} is not qa_wikidata's jsonl: {exc}", file=sys.stderr)
        return 2
    if len(picked) < TAKE or len({s["metadata"]["relation"] for s in picked}) < RELATIONS:
        print(f"error: only {len(picked)} statements pass the filters, {TAKE} needed", file=sys.stderr)
        return 2
    text = HANDWRITTEN.read_text(encoding="utf-8")
    text += "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in picked)
    out = HERE / "data.jsonl"
    if args.check:
        if not out.is_file() or out.read_text(encoding="utf-8") != text:
            print("data.jsonl is out of date", file=sys.stderr)
            return 1
        print("general-knowledge data is up to date")
        return 0
    out.write_text(text, encoding="utf-8")
    print(f"wrote {text.count(chr(10))} questions to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
