"""Comparisons and runs as pandas DataFrames: ``evalkit.load_comparison`` and ``evalkit.load_run``.

``load_comparison(path)`` reads a compare output folder (or its
comparison.json) and offers the comparison as tables: one row per suite and
candidate arm (:meth:`Comparison.suites_frame`), one per sample and arm
(:meth:`Comparison.samples_frame`) and one per flipped sample
(:meth:`Comparison.flips_frame`). ``load_run(run_dir).frame()`` gives one row
per sample and scorer (and draw, when a sample was drawn several times) of one
run folder. The comparison is the typed model of :mod:`evalkit.compare.schema`
(attribute access: ``cmp.suites[0].deltas[0].verdict``), read as that module
reads every schema version: fields an older evalkit did not write are missing
values, fields this one does not know are ignored; the full dict as read stays
available as ``.data``. pandas is imported only when a frame is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import PrivateAttr

from evalkit.compare import schema
from evalkit.errors import DataError
from evalkit.runner.store import read_json, read_jsonl_tolerant

if TYPE_CHECKING:
    import pandas as pd

COMPARISON_FILE = "comparison.json"
SUITE_COLUMNS = ["suite", "kind", "metric", "arm", "reference", "reference_score", "candidate_score", "delta",
                 "low", "high", "p_value", "p_holm", "verdict", "n", "n_clusters", "skipped"]
SAMPLE_COLUMNS = ["suite", "sample_id", "arm", "value", "passed", "error", "text", "target", "input",
                  "category"]
FLIP_COLUMNS = ["suite", "sample_id", "arm", "direction", "category", "input", "target", "reference_output",
                "candidate_output", "reference_explanation", "candidate_explanation"]
SCORE_KEYS = ("sample_id", "draw", "scorer", "value", "passed", "explanation")
GENERATION_KEYS = ("text", "prompt_tokens", "new_tokens", "latency_s", "cached")
RUN_COLUMNS = ["suite", "arm", *SCORE_KEYS[:-1], "error", "explanation", *GENERATION_KEYS]
DELTA_KEYS = ("delta", "low", "high", "p_value", "p_holm", "verdict", "n")


def _frame(rows: list[dict], columns: list[str], optional: tuple[str, ...] = ()) -> pd.DataFrame:
    """A DataFrame with ``columns`` in order (``optional`` ones only when some row has a value)."""
    import pandas as pd

    keep = [c for c in columns if c not in optional or any(r.get(c) is not None for r in rows)]
    return pd.DataFrame([{c: r.get(c) for c in keep} for r in rows], columns=keep)


class Comparison(schema.Comparison):
    """A loaded comparison: the typed comparison.json, its path, its raw dict and DataFrame views of it."""

    _path: Path = PrivateAttr(default=Path(COMPARISON_FILE))
    _data: dict = PrivateAttr(default_factory=dict)

    @property
    def path(self) -> Path:
        """The comparison.json it was read from."""
        return self._path

    @property
    def data(self) -> dict:
        """The comparison.json dict as read, every field (fields this evalkit does not know included)."""
        return self._data

    def suites_frame(self) -> pd.DataFrame:
        """One row per suite × candidate arm: scores, change, interval, p-values, verdict, n.

        ``n_clusters`` is present when the comparison records it; a skipped suite
        has one row per candidate with ``skipped`` set and no numbers.
        """
        rows = []
        reference = self.reference
        for suite in self.suites:
            ref_score = _mean(suite.scores.get(reference))
            base = {"suite": suite.name, "kind": suite.kind, "metric": suite.metric,
                    "reference": reference, "reference_score": ref_score, "skipped": suite.skipped}
            deltas = {d.arm: d for d in suite.deltas}
            for arm in self.candidates if suite.skipped or not deltas else list(deltas):
                delta = deltas.get(arm)
                recorded = delta is not None and "n_clusters" in delta  # else the suite's count
                n_clusters = delta.n_clusters if recorded else suite.n_clusters
                rows.append({**base, "arm": arm, "candidate_score": _mean(suite.scores.get(arm)),
                             **{k: _plain(getattr(delta, k, None)) for k in DELTA_KEYS},
                             "n_clusters": n_clusters})
        return _frame(rows, SUITE_COLUMNS, optional=("n_clusters", "skipped"))

    def samples_frame(self) -> pd.DataFrame:
        """One row per sample × arm: the headline score's value and pass/fail, output text, target, input."""
        rows = []
        for suite, samples in self.samples.items():
            for sample in samples:
                for arm, out in sample.outputs.items():
                    rows.append({"suite": suite, "sample_id": sample.id, "arm": arm, "value": out.value,
                                 "passed": out.passed, "error": out.error, "text": out.text,
                                 "target": sample.target, "input": sample.input, "category": sample.category})
        return _frame(rows, SAMPLE_COLUMNS)

    def flips_frame(self) -> pd.DataFrame:
        """One row per sample whose pass/fail differs between the reference and a candidate."""
        return _frame([flip.model_dump(mode="json") for flip in self.flips], FLIP_COLUMNS)


def _mean(score: schema.ArmScore | None) -> float | None:
    return score.mean if score is not None else None


def _plain(value: Any) -> Any:
    """A verdict as its plain word (frames hold plain values), anything else as it is."""
    return value.value if isinstance(value, Enum) else value


@dataclass
class Run:
    """A loaded run folder (one arm on one suite): header, metrics and per-sample rows."""

    path: Path
    header: dict
    metrics: dict
    scores: list[dict] = field(repr=False)
    generations: list[dict] = field(repr=False)

    def frame(self) -> pd.DataFrame:
        """One row per sample × scorer (× draw when drawn several times), with the generation joined in.

        A run drawn k > 1 times per sample has a ``draw`` column (0 .. k-1; a
        generation without one is draw 0); draws beyond the run's k, left by an
        earlier run with more, are left out as the comparison leaves them out.
        """
        suite = (self.header.get("suite") or {}).get("name")
        arm = (self.header.get("arm") or {}).get("name")
        per_item = int(self.metrics.get("samples_per_item") or self.header.get("samples_per_item") or 0)
        outputs = {(g.get("sample_id"), g.get("draw") or 0): g for g in self.generations}
        rows = []
        for score in self.scores:
            draw = score.get("draw") or 0
            if per_item and draw >= per_item:
                continue
            gen: dict[str, Any] = outputs.get((score.get("sample_id"), draw)) or {}
            row = {"suite": suite, "arm": arm}
            row.update({k: score.get(k) for k in SCORE_KEYS})
            row["error"] = score.get("error") or gen.get("error")
            row.update({k: gen.get(k) for k in GENERATION_KEYS})
            rows.append(row)
        return _frame(rows, RUN_COLUMNS, optional=("draw",))


def load_comparison(path: str | Path) -> Comparison:
    """Load a compare output folder (or its comparison.json), of any schema version, as a typed comparison.

    A file that is not a comparison, is malformed, or comes from a newer evalkit is a :class:`DataError`.
    """
    path = Path(path)
    file = path / COMPARISON_FILE if path.is_dir() else path
    if path.is_dir() and not file.is_file():
        raise DataError(f"{path}: no {COMPARISON_FILE} in this folder.",
                        hint="give the --out folder of `evalkit compare`, or its comparison.json")
    data = read_json(file, "comparison")
    comparison = schema.read_comparison(data, str(file), cls=Comparison)
    comparison._path, comparison._data = file, data
    return comparison


def load_run(run_dir: str | Path) -> Run:
    """Load one run folder (run.json, metrics.json, scores.jsonl, generations.jsonl)."""
    folder = Path(run_dir)
    if not (folder / "run.json").is_file():
        inside = sorted(str(p.parent) for p in folder.rglob("run.json"))[:5] if folder.is_dir() else []
        raise DataError(
            f"{folder}: not a run folder (no run.json).",
            hint=f"it holds runs: {', '.join(inside)}" if inside else "give a folder `evalkit run` wrote",
        )
    header = read_json(folder / "run.json", "run header")
    metrics = read_json(folder / "metrics.json", "run metrics") if (folder / "metrics.json").is_file() else {}
    return Run(path=folder, header=header, metrics=metrics,
               scores=read_jsonl_tolerant(folder / "scores.jsonl"),
               generations=read_jsonl_tolerant(folder / "generations.jsonl"))
