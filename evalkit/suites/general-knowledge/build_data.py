#!/usr/bin/env python3
"""Build general-knowledge/data.jsonl: 120 hand-written questions plus 380 from NQ-open.

`handwritten.jsonl` holds the 120 questions written for evalkit (suite version 1); they are
kept unchanged and first. The rest come from NQ-open's dev split (Lee et al., 2019; Natural
Questions data, CC BY-SA 3.0), `NQ-open.dev.jsonl` of
`google-research-datasets/natural-questions` (see SOURCE.md), expected at
`shared/data/nq-open/NQ-open.dev.jsonl` beside the repository or given with `--source`.

Selection (deterministic, no model involved):

1. Keep a question of at most 12 words whose every accepted answer has at most 4 words and
   at least 4 characters (`contains` matches substrings: a short answer such as "one" or
   "BBC" would also match inside other words), and none of whose answers occurs in the
   question itself (echoing the question must not score).
2. Order the kept questions by sha256 of "nq-open:" + the question and take the first 380.

Each row becomes ``{"id": "nq-<line>", "input": <question, capitalised, with "?">,
"target": <the accepted answers>, "metadata": {"category": "nq-open"}}`` where <line> is the
question's 0-based line in the upstream file.

    python3 suites/general-knowledge/build_data.py --source NQ-open.dev.jsonl           # write data.jsonl
    python3 suites/general-knowledge/build_data.py --source NQ-open.dev.jsonl --check   # verify it
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# HERE is <repo>/evalkit/suites/general-knowledge; shared/ lies beside the repository.
DEFAULT_SOURCE = HERE.parents[3] / "shared" / "data" / "nq-open" / "NQ-open.dev.jsonl"
UPSTREAM_SHA256 = "f15567f38099f3615f5b8a685c0aef449c11ad90d3da3735e8d1b98115b40616"
HANDWRITTEN = HERE / "handwritten.jsonl"
TAKE = 380
MAX_QUESTION_WORDS = 12
MAX_ANSWER_WORDS = 4
MIN_ANSWER_CHARS = 4


def eligible(question: str, answers: list[str]) -> bool:
    """Whether an NQ-open question passes the selection rule's filters (step 1)."""
    if not answers or len(question.split()) > MAX_QUESTION_WORDS:
        return False
    for answer in answers:
        if len(answer.split()) > MAX_ANSWER_WORDS or len(answer) < MIN_ANSWER_CHARS:
            return False
        if answer.casefold() in question.casefold():
            return False
    return True


def to_sample(line: int, question: str, answers: list[str]) -> dict:
    """One NQ-open question as an evalkit sample."""
    text = question.strip()
    text = text[0].upper() + text[1:] + ("" if text.endswith("?") else "?")
    return {"id": f"nq-{line:04d}", "input": text, "target": list(answers),
            "metadata": {"category": "nq-open"}}


def select(raw: bytes) -> list[dict]:
    """The selected NQ-open samples (step 2's order) from the upstream file's bytes."""
    kept = []
    for line, text in enumerate(raw.decode("utf-8").splitlines()):
        row = json.loads(text)
        if eligible(row["question"], row["answer"]):
            kept.append((hashlib.sha256(f"nq-open:{row['question']}".encode()).hexdigest(), line, row))
    kept.sort(key=lambda item: item[:2])
    return [to_sample(line, row["question"], row["answer"]) for _, line, row in kept[:TAKE]]


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` verify) data.jsonl; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="NQ-open's NQ-open.dev.jsonl")
    parser.add_argument("--check", action="store_true", help="verify data.jsonl instead of writing it")
    args = parser.parse_args(argv)
    if not args.source.is_file():
        print(f"error: {args.source} not found (give NQ-open.dev.jsonl with --source; see SOURCE.md)",
              file=sys.stderr)
        return 2
    raw = args.source.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != UPSTREAM_SHA256:
        print(f"warning: {args.source} has sha256 {digest}, expected {UPSTREAM_SHA256}", file=sys.stderr)
    try:
        picked = select(raw)
    except (ValueError, KeyError, TypeError) as exc:
        print(f"error: {args.source} is not NQ-open's jsonl: {exc}", file=sys.stderr)
        return 2
    if len(picked) < TAKE:
        print(f"error: only {len(picked)} questions pass the filters, {TAKE} needed", file=sys.stderr)
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
