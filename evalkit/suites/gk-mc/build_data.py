#!/usr/bin/env python3
"""Build gk-mc/gk_mc.jsonl: 100 hand-written questions plus 400 from PIQA, in a seeded order.

`handwritten.jsonl` holds the 100 four-option questions written for evalkit (suite version 1),
kept unchanged. The rest are two-option everyday physical-knowledge questions from PIQA's
validation split (Bisk et al., AAAI 2020), as `mosaicml/llm-foundry` ships it in
`scripts/eval/local_data/commonsense_reasoning/piqa.jsonl` (see SOURCE.md), expected at
`shared/data/piqa/piqa.jsonl` beside the repository or given with `--source`.

Selection (deterministic, no model involved):

1. Keep a question whose goal has at least MIN_GOAL_WORDS words (PIQA has goals such as
   "ice box" or "dresser" that are no question at all) and whose two solutions are at most
   MAX_SOLUTION_CHARS characters long each and differ.
2. Order the kept questions by sha256 of "piqa:<line>" and take the first TAKE.

Each row becomes ``{"id": "piqa-<line>", "question": <goal>, "choices": <the two solutions>,
"answer": <gold index>, "category": "piqa"}``, <line> being its 0-based line upstream. The
file is written in one seeded shuffled order (sha256 of "gk-mc:<id>"), not grouped by source,
because lm-eval's `--limit N` takes the first N documents of the file: a limit is then an
unbiased subset.

    python3 suites/gk-mc/build_data.py --source piqa.jsonl            # write gk_mc.jsonl
    python3 suites/gk-mc/build_data.py --source piqa.jsonl --check    # verify it is up to date
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# HERE is <repo>/evalkit/suites/gk-mc; shared/ lies beside the repository.
DEFAULT_SOURCE = HERE.parents[3] / "shared" / "data" / "piqa" / "piqa.jsonl"
UPSTREAM_SHA256 = "d2870e73aec5154df3faf259b7700876e11608eebdf69e9d6667435673dbe4e0"
HANDWRITTEN = HERE / "handwritten.jsonl"
OUT = HERE / "gk_mc.jsonl"
TAKE = 400
MIN_GOAL_WORDS = 4
MAX_SOLUTION_CHARS = 150
PREFIX = "Question: "


def _rank(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def goal_of(query: str) -> str:
    """PIQA's goal from llm-foundry's ``query`` ("Question: <goal>\\n")."""
    if not query.startswith(PREFIX):
        raise ValueError(f"a query does not start with {PREFIX!r}: {query[:40]!r}")
    return query[len(PREFIX):].strip()


def eligible(goal: str, solutions: list[str]) -> bool:
    """Whether a PIQA question passes the selection rule's filters (step 1)."""
    if len(goal.split()) < MIN_GOAL_WORDS or len(solutions) != 2:
        return False
    first, second = (s.strip() for s in solutions)
    return first != second and all(0 < len(s) <= MAX_SOLUTION_CHARS for s in (first, second))


def select(raw: bytes) -> list[dict]:
    """The selected PIQA rows (step 2's order) from the upstream file's bytes."""
    kept = []
    for line, text in enumerate(raw.decode("utf-8").splitlines()):
        row = json.loads(text)
        goal, solutions, gold = goal_of(row["query"]), row["choices"], row["gold"]
        if gold not in (0, 1):
            raise ValueError(f"line {line}: gold must be 0 or 1, got {gold!r}")
        if eligible(goal, solutions):
            kept.append((_rank(f"piqa:{line}"), line, goal, [s.strip() for s in solutions], gold))
    kept.sort()
    return [
        {"id": f"piqa-{line:04d}", "question": goal, "choices": solutions, "answer": gold, "category": "piqa"}
        for _, line, goal, solutions, gold in kept[:TAKE]
    ]


def build(raw: bytes) -> str:
    """The text of gk_mc.jsonl from the hand-written rows and the upstream PIQA file's bytes."""
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
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="llm-foundry's piqa.jsonl")
    parser.add_argument("--check", action="store_true", help="verify gk_mc.jsonl instead of writing it")
    args = parser.parse_args(argv)
    if not args.source.is_file():
        print(f"error: {args.source} not found (give PIQA's piqa.jsonl with --source; see SOURCE.md)",
              file=sys.stderr)
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
