"""Data loader for the gk_mc lm-eval task.

lm-eval passes ``dataset_kwargs`` to ``datasets.load_dataset``, which resolves a
relative ``data_files`` path against the *current working directory*, not the
task YAML's folder. ``gk_mc.yaml`` therefore names this function as its
``custom_dataset``: lm-eval calls it with the task's ``metadata`` and
``dataset_kwargs``, and relative paths are resolved here, next to this file, so
``lm_eval --include_path suites/gk-mc`` works from any directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def load_gk_mc(data_files: dict[str, str] | str | None = None, **_: Any):
    """A ``DatasetDict`` with the splits of ``data_files`` (paths relative to this folder)."""
    import datasets

    if data_files is None:
        data_files = {"test": "gk_mc.jsonl"}
    if isinstance(data_files, str):
        data_files = {"test": data_files}
    files = {split: str((HERE / path).resolve()) for split, path in data_files.items()}
    return datasets.load_dataset("json", data_files=files)
