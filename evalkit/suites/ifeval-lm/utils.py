"""Data loader and IFEval scoring hooks for the ``ifeval_lm`` lm-eval task.

Scoring is lm-eval's own IFEval code (``lm_eval.tasks.ifeval.utils``), imported
through :func:`evalkit.scorers.ifeval.load_ifeval`, which provides NLTK's Punkt
data offline (lm-eval would otherwise try to download ``punkt_tab``), seeds
``langdetect`` and disables NLTK downloads. The lm-eval CLI and evalkit both
load this file, so both score with the same code and setup. Without evalkit
installed, lm-eval's module is imported directly (it then needs NLTK's
``punkt_tab`` data, which it tries to download).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def load_docs(data_files: dict[str, str] | str | None = None, **_: Any):
    """A ``DatasetDict`` of ``data_files`` resolved next to this file (not the working directory)."""
    import datasets

    if data_files is None:
        data_files = {"test": "data.jsonl"}
    if isinstance(data_files, str):
        data_files = {"test": data_files}
    files = {split: str((HERE / path).resolve()) for split, path in data_files.items()}
    return datasets.load_dataset("json", data_files=files)


def _ifeval():
    try:
        from evalkit.scorers.ifeval import load_ifeval
    except ImportError:  # lm_eval without evalkit: lm-eval's own import (needs NLTK's punkt_tab data)
        from lm_eval.tasks.ifeval import utils

        return utils
    return load_ifeval()


def process_results(doc: dict, results: list[str]) -> dict:
    """lm-eval's IFEval per-prompt results: strict/loose, prompt-level and instruction-level."""
    return _ifeval().process_results(doc, results)


def agg_inst_level_acc(items: list[list[bool]]) -> float:
    """lm-eval's instruction-level accuracy: the fraction of all instructions followed."""
    return _ifeval().agg_inst_level_acc(items)
