#!/usr/bin/env python3
"""Build ifeval-lm/data.jsonl: the ifeval-lite prompts in IFEval's own row format.

lm-eval's IFEval checkers (``lm_eval.tasks.ifeval.utils.process_results``) read
upstream IFEval rows: ``key``, ``prompt``, ``instruction_id_list``, ``kwargs``.
This script takes the 541 prompts of ``suites/ifeval-lite`` (see its
SOURCE.md for provenance) and writes them back in that
format, plus evalkit's stable ``id`` (``ifeval-<key>``, the same ids as
ifeval-lite), so both suites score the very same prompts. Prompt texts,
instruction ids and their arguments are unchanged.

    python3 suites/ifeval-lm/build_data.py            # write data.jsonl
    python3 suites/ifeval-lm/build_data.py --check    # verify it is up to date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "ifeval-lite" / "data.jsonl"


def to_row(sample: dict) -> dict:
    """One ifeval-lite sample as an upstream IFEval row with evalkit's id."""
    meta = sample["metadata"]
    return {
        "id": sample["id"],
        "key": int(sample["id"].removeprefix("ifeval-")),
        "prompt": sample["input"],
        "instruction_id_list": meta["instruction_id_list"],
        "kwargs": meta["kwargs"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=SOURCE, help="ifeval-lite data.jsonl")
    parser.add_argument("--check", action="store_true", help="verify data.jsonl instead of writing it")
    args = parser.parse_args(argv)
    lines = args.source.read_text(encoding="utf-8").splitlines()
    rows = [to_row(json.loads(line)) for line in lines if line.strip()]
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    out = HERE / "data.jsonl"
    if args.check:
        if not out.is_file() or out.read_text(encoding="utf-8") != text:
            print("data.jsonl is out of date", file=sys.stderr)
            return 1
        print("ifeval-lm data is up to date")
        return 0
    out.write_text(text, encoding="utf-8")
    print(f"wrote {text.count(chr(10))} prompts to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
