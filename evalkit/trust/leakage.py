"""Training data that leaked into the evaluation: exact and near-duplicate prompts.

Every suite sample's input is compared with every training row's prompt (the
user turns of chat rows; any ``evalkit train`` format, read by
:mod:`evalkit.train.data`). A training prompt that wraps the text in the
suite's own ``prompt_template`` is unwrapped first, so the fixed instruction
both share does not count as overlap.

- **exact**: equal after normalisation (case folded, punctuation dropped,
  whitespace collapsed);
- **near**: Jaccard similarity of the word 3-gram shingle sets at least
  :data:`NEAR_THRESHOLD` (texts under 3 words are one shingle). Jaccard is
  computed exactly through an inverted index, which is fast for the tens of
  thousands of rows a fine-tuning set has.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

SHINGLE_WORDS = 3
#: Word 3-gram Jaccard at or above which a sample counts as a near-duplicate of a training prompt.
NEAR_THRESHOLD = 0.5
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


def normalise(text: str) -> str:
    """Case-folded, punctuation-free, whitespace-collapsed text (NFKC first)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_PUNCT.sub(" ", text).split())


def shingles(text: str, size: int = SHINGLE_WORDS) -> frozenset[tuple[str, ...]]:
    """The set of word ``size``-grams of normalised text (one shingle for shorter texts)."""
    words = normalise(text).split()
    if len(words) < size:
        return frozenset([tuple(words)]) if words else frozenset()
    return frozenset(tuple(words[i : i + size]) for i in range(len(words) - size + 1))


def user_text(prompt) -> str:
    """The text of a prompt: itself, or its user turns joined (system and assistant turns left out)."""
    if isinstance(prompt, str):
        return prompt
    return "\n".join(str(m.get("content", "")) for m in prompt if m.get("role", "user") == "user")


def unwrap(text: str, template: str | None) -> str:
    """``text`` without the fixed parts of a ``{input}`` template, when it is wrapped in them."""
    if not template or "{input}" not in template:
        return text
    head, _, tail = template.partition("{input}")
    if text.startswith(head) and text.endswith(tail) and len(text) >= len(head) + len(tail):
        return text[len(head) : len(text) - len(tail)]
    return text


@dataclass
class TrainIndex:
    """Training prompts indexed for exact and near-duplicate look-ups."""

    where: list[str]
    texts: list[str]
    exact: dict[str, int] = field(default_factory=dict)
    sets: list[frozenset] = field(default_factory=list)
    postings: dict[tuple, list[int]] = field(default_factory=dict)

    @classmethod
    def build(cls, rows: list[tuple[str, str]]) -> TrainIndex:
        """Index (location, prompt text) pairs."""
        index = cls([w for w, _ in rows], [t for _, t in rows])
        for i, (_, text) in enumerate(rows):
            index.exact.setdefault(normalise(text), i)
            grams = shingles(text)
            index.sets.append(grams)
            for gram in grams:
                index.postings.setdefault(gram, []).append(i)
        return index

    def match(self, text: str) -> dict | None:
        """The closest training prompt to ``text``: exact, near (Jaccard >= threshold) or None."""
        key = normalise(text)
        if key and key in self.exact:
            return {"kind": "exact", "similarity": 1.0, "train_where": self.where[self.exact[key]]}
        grams = shingles(text)
        if not grams:
            return None
        shared: dict[int, int] = {}
        for gram in grams:
            for i in self.postings.get(gram, ()):
                shared[i] = shared.get(i, 0) + 1
        best, best_i = 0.0, None
        for i, count in shared.items():
            score = count / (len(grams) + len(self.sets[i]) - count)
            if score > best:
                best, best_i = score, i
        if best_i is None or best < NEAR_THRESHOLD:
            return None
        return {"kind": "near", "similarity": round(best, 4), "train_where": self.where[best_i]}


def train_prompts(path: str | Path, fmt: str = "auto", template: str | None = None):
    """(location, prompt text) of every training row, unwrapped from ``template``; and the sha256."""
    from evalkit.train.data import read_examples
    from evalkit.train.spec import DataSource

    examples, _, digest = read_examples(DataSource(path=str(path), format=fmt))
    return [(e.where, unwrap(user_text(e.prompt), template)) for e in examples], digest


def suite_overlap(index_rows: list[tuple[str, str]], suite) -> dict:
    """Leaked samples of one suite: counts, share and one entry per leaked sample."""
    index = TrainIndex.build(index_rows)
    leaked = []
    for sample in suite.samples:
        text = user_text(sample.input)
        hit = index.match(text)
        if hit is not None:
            leaked.append({"id": sample.id, **hit})
    exact = sum(1 for x in leaked if x["kind"] == "exact")
    n = len(suite.samples)
    return {
        "suite": suite.name,
        "n": n,
        "exact": exact,
        "near": len(leaked) - exact,
        "share": round(len(leaked) / n, 6) if n else 0.0,
        "samples": leaked,
    }


def leakage_report(path: str | Path, suites: list, fmt: str = "auto") -> dict:
    """Overlap of a training file with every (non-lm-eval) suite: {source, sha256, suites: [...]}."""
    by_template: dict[str | None, list] = {}
    digest = ""
    blocks, unchecked = [], []
    for suite in suites:
        if suite.spec.engine == "lm-eval":  # its samples come from lm-eval's own task data at run time
            unchecked.append(suite.name)
            continue
        template = suite.spec.prompt_template
        if template not in by_template:
            by_template[template], digest = train_prompts(path, fmt, template)
        blocks.append(suite_overlap(by_template[template], suite))
    if not by_template:  # still read (and check) the file, for its hash
        _, digest = train_prompts(path, fmt)
    return {
        "source": str(path),
        "sha256": digest,
        "method": f"exact after normalisation; near: word {SHINGLE_WORDS}-gram Jaccard >= {NEAR_THRESHOLD}",
        "suites": blocks,
        "not_checked": unchecked,
    }
