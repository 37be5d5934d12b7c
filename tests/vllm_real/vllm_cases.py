"""Shared pieces of the real-vLLM tests: the workload, spec files, run folders, the vLLM venv's evalkit."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import yaml
from vllm_env import vllm_env

SUITE, LIMIT, MAX_NEW_TOKENS = "support-triage", 8, 24


def arm_spec(name: str, base: Path, **fields) -> dict:
    """A float32 arm on the default model, decoding as the references do."""
    return {"name": name, "base": str(base), "dtype": "float32", "chat_template": "auto",
            "generation": {"max_new_tokens": MAX_NEW_TOKENS, "temperature": 0.0}, **fields}


def write_spec(folder: Path, spec: dict) -> Path:
    """Write a spec YAML named after the arm."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def generations(run_dir: Path) -> dict[str, dict]:
    """sample id -> generation row of a run directory."""
    rows = map(json.loads, (run_dir / "generations.jsonl").read_text().splitlines())
    return {row["sample_id"]: row for row in rows}


def run_in_vllm_venv(python: Path, args: list[str], cwd: Path, timeout: float = 900, **env: str):
    """``python -m evalkit ARGS`` in the vLLM venv; returns the completed process (output in a log)."""
    started = time.monotonic()
    result = subprocess.run([str(python), "-m", "evalkit", *args], cwd=cwd, env=vllm_env(**env),
                            capture_output=True, text=True, timeout=timeout)
    (cwd / "vllm-run.log").write_text(result.stdout + result.stderr, encoding="utf-8")
    result.seconds = time.monotonic() - started
    return result
