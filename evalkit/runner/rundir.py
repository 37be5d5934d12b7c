"""The run folder: where an arm's run of a suite lives, and what identifies its content.

Both engines (the native runner and lm-eval) write the same files here: ``run.json`` (the
header), ``generations.jsonl``, ``scores.jsonl`` and ``metrics.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evalkit.models.loader import Arm
from evalkit.paths import safe_component
from evalkit.redact import redact_record
from evalkit.suite.loader import Suite


@dataclass
class RunResult:
    """A finished run: where it lives and its metrics."""

    out_dir: Path
    metrics: dict
    generated: int
    cached: int
    resumed: int

    @property
    def primary(self) -> float | None:
        """The suite's headline metric."""
        return self.metrics["metrics"][self.metrics["primary_metric"]]["mean"]


def safe_name(text: str) -> str:
    """A file-system-safe, collision-free version of a display name (see :func:`safe_component`)."""
    return safe_component(text, fallback="model")


def arm_run_dir(root: Path, arm: Arm, suite_name: str) -> Path:
    """Where an arm's run of a suite lives under ``root`` (names never escape it)."""
    arm_dir = f"{safe_name(arm.name)}-{arm.fingerprint[:8]}"
    return root / arm_dir / safe_component(suite_name, fallback="suite")


def suite_signature(suite: Suite) -> dict:
    """What identifies a suite's content: name, version, data hash and scorer config."""
    return {
        "name": suite.name,
        "version": suite.spec.version,
        "kind": suite.spec.kind,
        "data_sha256": suite.data_sha256,
        "scorers": [redact_record(s.model_dump()) for s in suite.spec.scorers],  # a judge's base_url
        "prompt_template": suite.spec.prompt_template,
        "primary_metric": suite.spec.primary_metric,
    }
