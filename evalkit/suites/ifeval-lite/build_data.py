#!/usr/bin/env python3
"""Build ifeval-lite/data.jsonl: all 541 IFEval prompts in evalkit's sample format.

Source: Google's IFEval prompts (Apache-2.0), `input_data.jsonl`, expected at
`shared/data/ifeval/input_data.jsonl` beside the repository (see SOURCE.md), or
given with `--source`. Every upstream row is kept, in key order; `prompt`,
`instruction_id_list` and `kwargs` are unchanged. Each sample's `category` is the
group of its first instruction (`change_case`, `keywords`, ...).

    python3 suites/ifeval-lite/build_data.py            # write data.jsonl
    python3 suites/ifeval-lite/build_data.py --check    # verify it is up to date
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# HERE is <repo>/evalkit/suites/ifeval-lite; shared/ lies beside the repository.
DEFAULT_SOURCE = HERE.parents[3] / "shared" / "data" / "ifeval" / "input_data.jsonl"
UPSTREAM_SHA256 = "67ffeee0fcb87c317c5b08a2de85557b4a7e96ada6178aa645b4954fe4b53d49"
UPSTREAM_ROWS = 541


def to_sample(row: dict) -> dict:
    """One upstream IFEval row as an evalkit sample (id ``ifeval-<key>``)."""
    return {
        "id": f"ifeval-{row['key']}",
        "input": row["prompt"],
        "metadata": {
            "instruction_id_list": row["instruction_id_list"],
            "kwargs": row["kwargs"],
            "category": row["instruction_id_list"][0].split(":")[0],
        },
    }


def build(raw: bytes) -> str:
    """The text of data.jsonl for the upstream file's bytes ``raw``."""
    rows = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    keys = [r["key"] for r in rows]
    if len(set(keys)) != len(keys):
        raise ValueError("the source file repeats a key")
    rows.sort(key=lambda r: r["key"])
    return "".join(json.dumps(to_sample(r), ensure_ascii=False) + "\n" for r in rows)


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` verify) data.jsonl; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="IFEval input_data.jsonl")
    parser.add_argument("--check", action="store_true", help="verify data.jsonl instead of writing it")
    args = parser.parse_args(argv)
    if not args.source.is_file():
        print(f"error: {args.source} not found (give IFEval's input_data.jsonl with --source)",
              file=sys.stderr)
        return 2
    raw = args.source.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != UPSTREAM_SHA256:
        print(f"warning: {args.source} has sha256 {digest}, expected {UPSTREAM_SHA256}", file=sys.stderr)
    try:
        text = build(raw)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        print(f"error: {args.source} is not IFEval's input_data.jsonl: {exc}", file=sys.stderr)
        return 2
    if digest == UPSTREAM_SHA256 and text.count("\n") != UPSTREAM_ROWS:
        print(f"error: expected {UPSTREAM_ROWS} prompts, built {text.count(chr(10))}", file=sys.stderr)
        return 2
    out = HERE / "data.jsonl"
    if args.check:
        if not out.is_file() or out.read_text(encoding="utf-8") != text:
            print("data.jsonl is out of date", file=sys.stderr)
            return 1
        print("ifeval-lite data is up to date")
        return 0
    out.write_text(text, encoding="utf-8")
    print(f"wrote {text.count(chr(10))} prompts to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
