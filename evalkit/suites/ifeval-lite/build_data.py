#!/usr/bin/env python3
"""Build ifeval-lite/data.jsonl: ~50 IFEval prompts that a short answer can satisfy.

Source: Google's IFEval prompts (Apache-2.0), `input_data.jsonl`, expected at
`shared/data/ifeval/input_data.jsonl` beside the repository (see SOURCE.md), or
given with `--source`. The selection is deterministic:

1. Drop prompts whose instructions cannot be met within the suite's budget of
   160 new tokens (about 110 words), i.e. any of:
   * `length_constraints:number_words` with relation "at least" and more than 60 words;
   * `length_constraints:number_paragraphs` or `nth_paragraph_first_word` with more
     than 2 paragraphs;
   * `length_constraints:number_sentences` with relation "at least" and more than 5;
   * more than 5 bullets, 3 highlighted sections, 2 sections, 5 placeholders,
     "at least" 3 uses of a keyword, "at least" 20 occurrences of a letter or
     "at least" 10 capitalised words;
   * `combination:repeat_prompt` whose text to repeat is longer than 40 words;
   * a prompt text asking for more than 100 words (e.g. "a 300+ word essay",
     "at least 600 words");
   * `language:response_language` (language identification is unreliable on the
     short answers of a small model).
2. Walk the instruction types in sorted order, round-robin, each time taking the
   shortest remaining prompt (then lowest key) that uses that type, until
   `TARGET` prompts are chosen. This spreads the selection over all types.

    python3 suites/ifeval-lite/build_data.py            # write data.jsonl
    python3 suites/ifeval-lite/build_data.py --check    # verify it is up to date
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# HERE is <repo>/evalkit/suites/ifeval-lite; shared/ lies beside the repository.
DEFAULT_SOURCE = HERE.parents[3] / "shared" / "data" / "ifeval" / "input_data.jsonl"
UPSTREAM_SHA256 = "67ffeee0fcb87c317c5b08a2de85557b4a7e96ada6178aa645b4954fe4b53d49"
TARGET = 50

# (instruction id, kwarg, relation or None, largest allowed value)
LIMITS = [
    ("length_constraints:number_words", "num_words", "at least", 60),
    ("length_constraints:number_paragraphs", "num_paragraphs", None, 2),
    ("length_constraints:nth_paragraph_first_word", "num_paragraphs", None, 2),
    ("length_constraints:number_sentences", "num_sentences", "at least", 5),
    ("detectable_format:number_bullet_lists", "num_bullets", None, 5),
    ("detectable_format:number_highlighted_sections", "num_highlights", None, 3),
    ("detectable_format:multiple_sections", "num_sections", None, 2),
    ("detectable_content:number_placeholders", "num_placeholders", None, 5),
    ("keywords:frequency", "frequency", "at least", 3),
    ("keywords:letter_frequency", "let_frequency", "at least", 20),
    ("change_case:capital_word_frequency", "capital_frequency", "at least", 10),
]
RELATION_KEY = {
    "keywords:letter_frequency": "let_relation",
    "change_case:capital_word_frequency": "capital_relation",
}
EXCLUDED_TYPES = {"language:response_language"}
MAX_WORDS_ASKED = 100
MAX_REPEAT_WORDS = 40
WORDS_ASKED = re.compile(r"(\d[\d,]*)\s*\+?\s*(?:-\s*)?words?\b", re.IGNORECASE)


def too_long(row: dict) -> str | None:
    """Why a prompt cannot be satisfied by a short answer, or None."""
    for iid, kw in zip(row["instruction_id_list"], row["kwargs"]):
        kw = {k: v for k, v in (kw or {}).items() if v is not None}
        if iid in EXCLUDED_TYPES:
            return f"{iid} excluded"
        for lim_id, key, relation, most in LIMITS:
            if iid != lim_id or key not in kw:
                continue
            rel = kw.get(RELATION_KEY.get(iid, "relation"))
            if relation is not None and rel != relation:
                continue
            if kw[key] > most:
                return f"{iid} {key}={kw[key]}"
        repeat = kw.get("prompt_to_repeat", "")
        if iid == "combination:repeat_prompt" and len(repeat.split()) > MAX_REPEAT_WORDS:
            return "prompt to repeat too long"
    for match in WORDS_ASKED.finditer(row["prompt"]):
        if int(match.group(1).replace(",", "")) > MAX_WORDS_ASKED:
            return f"asks for {match.group(0)!r}"
    return None


def select(rows: list[dict]) -> list[dict]:
    candidates = [r for r in rows if too_long(r) is None]
    types = sorted({i for r in candidates for i in r["instruction_id_list"]})
    by_type = {
        t: sorted(
            (r for r in candidates if t in r["instruction_id_list"]),
            key=lambda r: (len(r["prompt"]), r["key"]),
        )
        for t in types
    }
    chosen: dict[int, dict] = {}
    while len(chosen) < TARGET:
        progress = False
        for t in types:
            if len(chosen) >= TARGET:
                break
            for row in by_type[t]:
                if row["key"] not in chosen:
                    chosen[row["key"]] = row
                    progress = True
                    break
        if not progress:
            break
    return sorted(chosen.values(), key=lambda r: r["key"])


def to_sample(row: dict) -> dict:
    return {
        "id": f"ifeval-{row['key']}",
        "input": row["prompt"],
        "metadata": {
            "instruction_id_list": row["instruction_id_list"],
            "kwargs": row["kwargs"],
            "category": row["instruction_id_list"][0].split(":")[0],
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="IFEval input_data.jsonl")
    parser.add_argument("--check", action="store_true", help="verify data.jsonl instead of writing it")
    args = parser.parse_args(argv)
    raw = args.source.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != UPSTREAM_SHA256:
        print(f"warning: {args.source} has sha256 {digest}, expected {UPSTREAM_SHA256}", file=sys.stderr)
    rows = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    text = "".join(json.dumps(to_sample(r), ensure_ascii=False) + "\n" for r in select(rows))
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
