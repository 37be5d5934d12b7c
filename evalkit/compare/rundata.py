"""Per-sample results of one arm on one suite, read from a run directory or a baseline."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from evalkit.runner.draw_values import all_or_none, has_draws, row_passes, row_values
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
    # Per-draw values, in draw order, when drawn k > 1 times or judged ``samples: k`` times (one per
    # (draw, judge sample); failed draws are left out); value = their mean.
    draws: list[float] | None = None


@dataclass
class RunData:
    """What compare needs from a run: suite signature, metrics and per-sample results."""

    suite: dict
    arm: dict
    metrics: dict
    samples: dict[str, SampleResult]
    inputs: dict[str, dict] = field(default_factory=dict)  # sample id -> {input, target, category}
    clusters: dict[str, str] = field(default_factory=dict)  # sample id -> cluster id (suite's cluster_field)
    # scorer key -> sample id -> value (mean over draws) for every scorer, for the secondary metrics
    metric_values: dict[str, dict[str, float | None]] = field(default_factory=dict)
    source: str = ""

    @property
    def primary(self) -> str:
        """The suite's headline scorer key."""
        return self.metrics["primary_metric"]

    @property
    def samples_per_item(self) -> int:
        """Generation draws per item (1 for runs and baselines made before repeated draws existed)."""
        value = self.metrics.get("samples_per_item")
        if value is None:
            value = self.metrics["metrics"].get(self.primary, {}).get("samples_per_item")
        return int(value or 1)

    @property
    def binary(self) -> bool:
        """Whether the headline metric is pass/fail."""
        return bool(self.metrics["metrics"][self.primary].get("binary"))


def sample_result(rows: list[dict], gen: dict, samples_per_item: int = 1) -> SampleResult:
    """One sample's result from its primary-metric rows (one per draw, in draw order).

    With one row holding one verdict this is that row. Otherwise ``draws`` lists
    every usable value (per generation draw, per judge sample), ``value`` is their
    mean, ``passed`` is True when every draw passed, False when none did and None
    when mixed, and the sample is an error only when no draw has a value.
    """
    first = rows[0]
    details = first.get("details") or {}
    common = {"explanation": first.get("explanation", ""), "text": gen.get("text")}
    common["judge"] = details.get("judge")
    if samples_per_item == 1 and len(rows) == 1 and not has_draws(first):
        error = first.get("error") or gen.get("error")
        return SampleResult(value=first["value"], passed=first["passed"], error=error, **common)
    values = [v for row in rows for v in row_values(row)]
    flags = [f for row in rows if row.get("error") is None for f in (row_passes(row) or [None])]
    if not values:
        error = next((r["error"] for r in rows if r.get("error")), None) or gen.get("error")
        return SampleResult(value=None, passed=None, error=error, **common)
    return SampleResult(value=sum(values) / len(values), passed=all_or_none(flags), draws=values, **common)


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
    k = int(metrics.get("samples_per_item") or header.get("samples_per_item") or 1)
    texts: dict[str, dict] = {}  # sample id -> its first draw's generation
    for gen in read_jsonl_tolerant(out / "generations.jsonl"):
        previous = texts.get(gen["sample_id"])
        if gen.get("draw", 0) < k and (previous is None or gen.get("draw", 0) < previous.get("draw", 0)):
            texts[gen["sample_id"]] = gen
    rows = [r for r in read_jsonl_tolerant(out / "scores.jsonl") if r.get("draw", 0) < k]
    rows_by_sample: dict[str, list[dict]] = {}
    for row in rows:
        if row["scorer"] == primary:
            rows_by_sample.setdefault(row["sample_id"], []).append(row)
    results = {
        sample_id: sample_result(sorted(rows, key=lambda r: r.get("draw", 0)), texts.get(sample_id, {}), k)
        for sample_id, rows in rows_by_sample.items()
    }
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
        metric_values=_metric_values(rows),
        inputs=inputs,
        clusters=clusters,
        source=str(out),
    )


def _metric_values(rows: list[dict]) -> dict[str, dict[str, float | None]]:
    """scorer -> sample id -> value (the mean when a sample has several draws; None when it failed)."""
    collected: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        values = collected.setdefault(row["scorer"], {}).setdefault(row["sample_id"], [])
        if row.get("error") is None and row.get("value") is not None:
            values.append(float(row["value"]))
    return {
        scorer: {sid: (sum(v) / len(v) if v else None) for sid, v in by_id.items()}
        for scorer, by_id in collected.items()
    }
