"""Per-sample results of one arm on one suite, read from a run directory or a baseline."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from evalkit.runner.schema import read_run_file
from evalkit.runner.store import read_jsonl_tolerant


@dataclass
class SampleResult:
    """One sample's primary-metric score and the output that earned it."""

    value: float | None
    passed: bool | None
    explanation: str = ""
    error: str | None = None
    text: str | None = None
    judge: dict | None = None
    draws: list[float] | None = None  # per-draw values when drawn k > 1 times; value = their mean


@dataclass
class RunData:
    """What compare needs from a run: suite signature, metrics and per-sample results."""

    suite: dict
    arm: dict
    metrics: dict
    samples: dict[str, SampleResult]
    inputs: dict[str, dict] = field(default_factory=dict)  # sample id -> {input, target, category}
    clusters: dict[str, str] = field(default_factory=dict)  # sample id -> cluster id (suite's cluster_field)
    source: str = ""

    @property
    def primary(self) -> str:
        """The suite's headline scorer key."""
        return self.metrics["primary_metric"]

    @property
    def binary(self) -> bool:
        """Whether the headline metric is pass/fail."""
        return bool(self.metrics["metrics"][self.primary].get("binary"))


def load_run_dir(
    out: str | Path,
    samples_by_id: dict | None = None,
    category_field: str | None = None,
    cluster_field: str | None = None,
) -> RunData:
    """Read a finished run directory (metrics, scores, generations)."""
    out = Path(out)
    header = read_run_file(out / "run.json", "run header")
    metrics = read_run_file(out / "metrics.json", "run metrics")
    primary = metrics["primary_metric"]
    texts = {g["sample_id"]: g for g in read_jsonl_tolerant(out / "generations.jsonl")}
    results: dict[str, SampleResult] = {}
    for row in read_jsonl_tolerant(out / "scores.jsonl"):
        if row["scorer"] != primary:
            continue
        gen = texts.get(row["sample_id"], {})
        details = row.get("details") or {}
        results[row["sample_id"]] = SampleResult(
            value=row["value"],
            passed=row["passed"],
            explanation=row.get("explanation", ""),
            error=row.get("error") or gen.get("error"),
            text=gen.get("text"),
            judge=details.get("judge"),
        )
    inputs = {}
    for sample_id, sample in (samples_by_id or {}).items():
        inputs[sample_id] = {
            "input": sample.input,
            "target": sample.target,
            "category": str(sample.metadata.get(category_field, "")) if category_field else "",
        }
    clusters = {}
    if cluster_field:
        for sample_id, sample in (samples_by_id or {}).items():
            value = sample.metadata.get(cluster_field)
            clusters[sample_id] = f"{cluster_field}={value}" if value is not None else f"sample={sample_id}"
    return RunData(
        suite=header["suite"],
        arm=header["arm"],
        metrics=metrics,
        samples=results,
        inputs=inputs,
        clusters=clusters,
        source=str(out),
    )
