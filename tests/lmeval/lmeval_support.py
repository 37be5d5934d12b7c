"""Helpers for the lm-eval tests: tiny local tasks written as evalkit suites, random LoRA adapters."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from evalkit_testing import make_random_lora

LOADER = '''
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load_docs(data_files=None, **_):
    import datasets

    return datasets.load_dataset("json", data_files={k: str(HERE / v) for k, v in data_files.items()})
'''

MC_ROWS = [
    {"id": i, "question": q, "choices": c, "answer": a}
    for i, q, c, a in [
        ("fr", "What is the capital of France?", ["Paris", "Rome", "Oslo"], 0),
        ("sp", "How many legs does a spider have?", ["six", "eight", "ten"], 1),
        ("rp", "Which planet is the red planet?", ["Venus", "Mars", "Saturn"], 1),
        ("bw", "At what Celsius does water boil?", ["50", "90", "100"], 2),
        ("rj", "Who wrote Romeo and Juliet?", ["Shakespeare", "Homer", "Dante"], 0),
        ("sq", "What is 7 times 8?", ["54", "56", "64"], 1),
    ]
]
GEN_ROWS = [{"id": f"g{i}", "question": f"What is {i} plus {i}?", "answer": str(2 * i)} for i in range(4)]


def _task_yaml(name: str, output: str) -> dict:
    common = {
        "task": name, "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": f"{name}.jsonl"}},
        "custom_dataset": "!function utils.load_docs", "test_split": "test", "metadata": {"version": 1.0},
    }
    if output == "multiple_choice":
        return {**common, "output_type": "multiple_choice", "doc_to_text": "Question: {{question}}\nAnswer:",
                "doc_to_choice": "{{choices}}", "doc_to_target": "answer",
                "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                                {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}]}
    return {**common, "output_type": "generate_until", "doc_to_text": "Q: {{question}}\nA:",
            "doc_to_target": "answer",
            "generation_kwargs": {"until": ["\n"], "max_gen_toks": 6, "do_sample": False},
            "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}]}


def write_task_suite(folder: Path, name: str, output: str, rows: list[dict], **lm_eval) -> Path:
    """A suite folder holding one local lm-eval task (YAML, data, loader) and its suite.yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(_task_yaml(name, output), sort_keys=False)
    text = text.replace("'!function utils.load_docs'", "!function utils.load_docs")  # a tag, not text
    (folder / f"{name}.yaml").write_text(text)
    (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "utils.py").write_text(LOADER)
    section = {"tasks": [name], "include_path": ".", "batch_size": 4,
               "metric": "acc" if output == "multiple_choice" else "exact_match", **lm_eval}
    spec = {"name": folder.name, "kind": "lm-eval", "lm_eval": section}
    (folder / "suite.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return folder


def make_lora(base_dir: Path, out: Path, seed: int = 0, rank: int = 8) -> Path:
    """Save a randomly initialised LoRA adapter (non-zero, so it changes outputs) for ``base_dir``."""
    return make_random_lora(base_dir, out, seed=seed, rank=rank)
