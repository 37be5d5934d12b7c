"""The run folder: where an arm's run of a suite lives, its header, its metrics document, resuming.

Both engines (the native runner and lm-eval) write the same files here: ``run.json`` (the
header, :func:`run_header`), ``generations.jsonl``, ``scores.jsonl`` and ``metrics.json``
(:func:`metrics_document`); :func:`resumable` decides whether an earlier run in the folder
is continued, redone or refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.models.loader import Arm
from evalkit.paths import safe_component
from evalkit.redact import redact_record
from evalkit.runner.schema import read_run_file, schema_problem
from evalkit.runner.store import read_json
from evalkit.suite.loader import Suite
from evalkit.types import SCHEMA_VERSION
from evalkit.versions import package_versions

HEADER = "run.json"
RESULT_FILES = ("generations.jsonl", "scores.jsonl", "metrics.json")


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
        "kind": suite.spec.label,
        "data_sha256": suite.data_sha256,
        "scorers": [redact_record(s.model_dump()) for s in suite.spec.scorers],  # a judge's base_url
        "prompt_template": suite.spec.prompt_template,
        "primary_metric": suite.spec.primary_metric,
    }


def run_header(
    arm: Arm,
    suite: Suite,
    signature: dict,
    generation: dict,
    *,
    samples_per_item: int | None = None,
    extra: dict | None = None,
) -> dict:
    """The run.json document: suite signature, the arm and its generation settings, versions.

    ``extra`` holds an engine's own sections (lm-eval's settings); credentials in URLs are removed.
    """
    header: dict = {"schema_version": SCHEMA_VERSION, "suite": signature, "suite_dir": str(suite.folder)}
    if samples_per_item is not None:
        header["samples_per_item"] = samples_per_item
    header["arm"] = {
        "name": arm.name,
        "fingerprint": arm.fingerprint,
        "fingerprint_parts": arm.fingerprint_parts,
        "spec": arm.spec.model_dump(),
        "generation": generation,
        "engine": arm.engine,
    }
    header.update(extra or {})
    header["versions"] = package_versions()
    return redact_record(header)


def metrics_document(
    header: dict,
    suite: Suite,
    summary: dict,
    *,
    n_samples: int,
    generations: list[dict],
    timings: dict,
    samples_per_item: int | None = None,
    extra: dict | None = None,
) -> dict:
    """The metrics.json document of a scored run.

    ``generations`` are the run's generation rows (their tokens, errors and cache hits are
    counted); ``extra`` holds an engine's own sections (warnings, lm-eval's verbatim results).
    """
    doc: dict = {
        "schema_version": SCHEMA_VERSION,
        "suite": header["suite"],
        "arm": header["arm"],
        "fingerprint": header["arm"]["fingerprint"],
        "primary_metric": suite.spec.primary_metric,
    }
    if samples_per_item is not None:
        doc["samples_per_item"] = samples_per_item
    doc.update({
        "metrics": summary,
        "n_samples": n_samples,
        "n_generated": len(generations),
        "generation": {
            "new_tokens": sum(int(g.get("new_tokens") or 0) for g in generations),
            "prompt_tokens": sum(int(g.get("prompt_tokens") or 0) for g in generations),
            "errors": sum(1 for g in generations if g.get("error")),
            "cached": sum(1 for g in generations if g.get("cached")),
        },
        "timings": timings,
        **(extra or {}),
        "versions": package_versions(),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
    return doc


def resumable(out: Path, arm: Arm, signature: dict, resume: bool) -> bool:
    """Whether ``out`` holds an earlier run of this arm and suite to continue.

    No run there: False. A run of another model or suite version: refused (EvalkitError). A run
    written by another evalkit version: refused with ``resume`` (the message names --fresh), redone
    without. Without ``resume`` the earlier results are deleted and False is returned.
    """
    header_path = out / HEADER
    if not header_path.is_file():
        return False
    header = read_json(header_path, "run header")
    stale = schema_problem(header, "run header")  # another evalkit's run: --fresh redoes it
    if stale and resume:
        read_run_file(header_path, "run header")  # raises, naming the problem and --fresh
    same = header.get("arm", {}).get("fingerprint") == arm.fingerprint and header.get("suite") == signature
    if not same and not stale:
        raise EvalkitError(
            f"{out} already holds a run of a different model or suite version.",
            hint="choose another --out directory or delete that one",
        )
    if not resume:
        clear_results(out)
        return False
    return True


def clear_results(out: Path) -> None:
    """Delete a run folder's generations, scores and metrics (the header stays until rewritten)."""
    for name in RESULT_FILES:
        (out / name).unlink(missing_ok=True)
