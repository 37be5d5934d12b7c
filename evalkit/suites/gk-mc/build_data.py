#!/usr/bin/env python3
"""Build gk-mc/gk_mc.jsonl: 100 hand-written questions plus 400 from MMLU, in a seeded order.

`handwritten.jsonl` holds the 100 four-option questions written for evalkit (suite version 1),
kept unchanged. The rest come from MMLU's test split (Hendrycks et al., 2021; MIT), the
per-subject CSV files `data/test/<subject>_test.csv` of `hendrycks/test` at commit
`785eba57b455b9f9be12a0d3c1106d67274fea0e` (see SOURCE.md), read from a folder given with
`--source` (default `shared/data/mmlu/test` beside the repository).

Selection (deterministic, no model involved):

1. Only the subjects in SUBJECTS (general knowledge a small model may have: geography,
   everyday facts, biology, nutrition, ...; not law, advanced maths or professional exams).
2. In each subject drop a question whose options refer to other options ("all of the
   above", "both A and B", ...): scored by log-likelihood, each option is read alone, so such
   an option means nothing. Drop a question longer than 300 characters, and a question whose
   text already occurred in the kept ones (MMLU repeats a few).
3. Order each subject's remaining questions by sha256 of "mmlu:<subject>:<row>" and take the
   first PER_SUBJECT.

The file is written in one seeded shuffled order (sha256 of "gk-mc:<id>"), not grouped by
source or subject, because lm-eval's `--limit N` takes the first N documents of the file: a
limit is then an unbiased subset.

    python3 suites/gk-mc/build_data.py --source DIR            # write gk_mc.jsonl
    python3 suites/gk-mc/build_data.py --source DIR --check    # verify it is up to date
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# HERE is <repo>/evalkit/suites/gk-mc; shared/ lies beside the repository.
DEFAULT_SOURCE = HERE.parents[3] / "shared" / "data" / "mmlu" / "test"
HANDWRITTEN = HERE / "handwritten.jsonl"
OUT = HERE / "gk_mc.jsonl"
SUBJECTS = [
    "anatomy", "astronomy", "computer_security", "conceptual_physics", "global_facts",
    "high_school_biology", "high_school_geography", "high_school_government_and_politics",
    "high_school_psychology", "human_aging", "management", "marketing", "medical_genetics",
    "miscellaneous", "nutrition", "prehistory", "sociology", "us_foreign_policy", "virology",
    "world_religions",
]
PER_SUBJECT = 20
MAX_QUESTION_CHARS = 300
REFERS_TO_OPTIONS = re.compile(
    r"\b(all|none|both|neither) of (the )?(above|these|them|those)\b|\b[A-D],? (and|or) [A-D]\b"
    r"|\b(all|both) (of )?the above\b|\babove\b",
    re.IGNORECASE,
)
# sha256 of each upstream file at commit 785eba57 (checked by --source; see SOURCE.md).
UPSTREAM_SHA256 = {
    "anatomy": "966dfd5c4579885ebdb8c05d6754ae5834f672632586d8595be3c0f9360e6f4e",
    "astronomy": "87c9c3cb5a55395c70dd9ed521dd7d2629fd4ff236c5ab647102e007f52a9341",
    "computer_security": "8e40f809858db9dd8585036b53984e570b6101f72be2214b85e979c7fafa307f",
    "conceptual_physics": "7b39a241bb20424fd2a4e0e37ce05d94865ffc44191d8be4063be0e973312256",
    "global_facts": "84d6bcd165fba01327a8c5503239da9a00b7bd8a1b48db61d5774de29ee823aa",
    "high_school_biology": "cfaba2b58b9714d2a6983a90bce17f14cc44cfc8195b20f8f65fef70d21331b9",
    "high_school_geography": "b59382702daeb29a5ff8e255d5a22a33775c79859defd089a1cd835e0949b3af",
    "high_school_government_and_politics": "fbd7a89eb2c7806097e18b40950e44e0580e6f97cd151f01a216bb575c2d7903",
    "high_school_psychology": "88c33b6b0ade567d07b8b5b074effdb52f31d773541fd71e86cb0d85a8daf7bf",
    "human_aging": "01299d7e0ae4a8d082daeecc140445ce7393b464040bd810b0a60a370ae5502e",
    "management": "4a535a11bb480a09a302e86d157ae2d33e054cfa00e4265fe300a9408b87ec6b",
    "marketing": "ecf0ae0ae906194d033ca7d7746eaf201232eccb78ee24147e737473f751233d",
    "medical_genetics": "4cf70b253e326ee5bcff6e14091765c64003c0d853a58dbc6a5737281356766d",
    "miscellaneous": "f850dd48e37a545cef57741206598de71e2b2f6b008c8c7a51a4530987ae3ee7",
    "nutrition": "b5ef9739b7846733797f73f2cc67715d41160719e8846e0d529a61f2d6d659d0",
    "prehistory": "8d44938332ea3d199cfa51a18ef69af972aa33ca4af7b5f5bc62e768a31f949a",
    "sociology": "f6c464600032aa2bb53294ad53217fbb650601eee206af947b3ce4c587ff5bed",
    "us_foreign_policy": "2821ee009a2b1b7d4adc5a212a0bad7fe05d377455de0fe0841beab8f00142e1",
    "virology": "4355b9d79142da0e44a767a495a277733fd89ad67236cbbe3f42ff3a6d46b483",
    "world_religions": "3be96b2465419289c4fe0c8a0d003003facd243c8982c6daafc6ac90a40bd507",
}


def _rank(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_subject(path: Path) -> list[list[str]]:
    """The rows (question, four options, answer letter) of one MMLU CSV file."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    for number, row in enumerate(rows):
        if len(row) != 6 or row[5] not in ("A", "B", "C", "D"):
            raise ValueError(f"{path.name} row {number}: expected question, 4 options and A-D")
    return rows


def select_subject(subject: str, rows: list[list[str]], seen: set[str]) -> list[dict]:
    """The PER_SUBJECT questions of one subject that the rule keeps (``seen`` is updated)."""
    kept = []
    for number, (question, *options, letter) in enumerate(rows):
        question = question.strip()
        if len(question) > MAX_QUESTION_CHARS or any(REFERS_TO_OPTIONS.search(o) for o in options):
            continue
        if question.casefold() in seen:
            continue
        seen.add(question.casefold())
        kept.append((_rank(f"mmlu:{subject}:{number}"), number, question, options, letter))
    kept.sort()
    return [
        {"id": f"mmlu-{subject}-{number:03d}", "question": question, "choices": [o.strip() for o in options],
         "answer": "ABCD".index(letter), "category": subject}
        for _, number, question, options, letter in kept[:PER_SUBJECT]
    ]


def build(source: Path) -> str:
    """The text of gk_mc.jsonl from the hand-written rows and the MMLU CSVs under ``source``."""
    rows = [json.loads(line) for line in HANDWRITTEN.read_text(encoding="utf-8").splitlines() if line.strip()]
    seen = {row["question"].casefold() for row in rows}
    for subject in SUBJECTS:
        picked = select_subject(subject, read_subject(source / f"{subject}_test.csv"), seen)
        if len(picked) < PER_SUBJECT:
            raise ValueError(f"{subject}: only {len(picked)} questions pass the filters, "
                             f"{PER_SUBJECT} needed")
        rows += picked
    rows.sort(key=lambda row: _rank(f"gk-mc:{row['id']}"))
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` verify) gk_mc.jsonl; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="folder of MMLU's <subject>_test.csv files")
    parser.add_argument("--check", action="store_true", help="verify gk_mc.jsonl instead of writing it")
    args = parser.parse_args(argv)
    missing = [s for s in SUBJECTS if not (args.source / f"{s}_test.csv").is_file()]
    if missing:
        print(f"error: {args.source} lacks {missing[0]}_test.csv and {len(missing) - 1} more MMLU files "
              "(give MMLU's data/test folder with --source; see SOURCE.md)", file=sys.stderr)
        return 2
    for subject in SUBJECTS:
        digest = hashlib.sha256((args.source / f"{subject}_test.csv").read_bytes()).hexdigest()
        if digest != UPSTREAM_SHA256[subject]:
            print(f"warning: {subject}_test.csv has sha256 {digest}, expected {UPSTREAM_SHA256[subject]}",
                  file=sys.stderr)
    try:
        text = build(args.source)
    except (ValueError, KeyError, UnicodeDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
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
