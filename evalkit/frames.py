"""Comparisons and runs as pandas DataFrames: ``evalkit.load_comparison`` and ``evalkit.load_run``.

``load_comparison(path)`` reads a compare output folder (or its
comparison.json) and offers the comparison as tables: one row per suite and
candidate arm (:meth:`Comparison.suites_frame`), one per sample and arm
(:meth:`Comparison.samples_frame`) and one per flipped sample
(:meth:`Comparison.flips_frame`). ``load_run(run_dir).frame()`` gives one row
per sample and scorer (and draw, when a sample was drawn several times) of one
run folder. Keys are read with ``.get`` so comparisons written by older or
newer evalkit versions still load (a missing field is a missing value); the
full dict stays available as ``.data``. pandas is imported only when a frame
is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


@dataclass
class Comparison:
    """A loaded comparison: the comparison.json dict as ``.data`` and DataFrame views of it."""

    data: dict
    path: Path

    @property
    def reference(self) -> str | None:
        """The reference arm's name."""
        arms = self.data.get("arms") or []
        ref = next((a for a in arms if a.get("role") == "reference"), arms[0] if arms else None)
        return ref.get("name") if ref else None

    @property
    def candidates(self) -> list[str]:
        """The candidate arms' names, in comparison order."""
        return [a.get("name") for a in self.data.get("arms") or [] if a.get("name") != self.reference]

    def suites_frame(self) -> pd.DataFrame:
        """One row per suite × candidate arm: scores, change, interval, p-values, verdict, n.

        ``n_clusters`` is present when the comparison records it; a skipped suite
        has one row per candidate with ``skipped`` set and no numbers.
        """
        rows = []
        reference = self.reference
        for suite in self.data.get("suites") or []:
            scores = suite.get("scores") or {}
            ref_score = (scores.get(reference) or {}).get("mean")
            base = {"suite": suite.get("name"), "kind": suite.get("kind"), "metric": suite.get("metric"),
                    "reference": reference, "reference_score": ref_score, "skipped": suite.get("skipped")}
            deltas = {d.get("arm"): d for d in suite.get("deltas") or []}
            for arm in self.candidates if suite.get("skipped") or not deltas else list(deltas):
                delta = deltas.get(arm) or {}
                rows.append({**base, "arm": arm, "candidate_score": (scores.get(arm) or {}).get("mean"),
                             **{k: delta.get(k) for k in DELTA_KEYS},
                             "n_clusters": delta.get("n_clusters", suite.get("n_clusters"))})
        return _frame(rows, SUITE_COLUMNS, optional=("n_clusters", "skipped"))

    def samples_frame(self) -> pd.DataFrame:
        """One row per sample × arm: the headline score's value and pass/fail, output text, target, input."""
        rows = []
        for suite, samples in (self.data.get("samples") or {}).items():
            for sample in samples or []:
                for arm, out in (sample.get("outputs") or {}).items():
                    rows.append({"suite": suite, "sample_id": sample.get("id"), "arm": arm,
                                 **{k: out.get(k) for k in ("value", "passed", "error", "text")},
                                 **{k: sample.get(k) for k in ("target", "input", "category")}})
        return _frame(rows, SAMPLE_COLUMNS)

    def flips_frame(self) -> pd.DataFrame:
        """One row per sample whose pass/fail differs between the reference and a candidate."""
        return _frame(list(self.data.get("flips") or []), FLIP_COLUMNS)


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
    """Load a compare output folder (or its comparison.json) for analysis as DataFrames."""
    path = Path(path)
    file = path / COMPARISON_FILE if path.is_dir() else path
    if path.is_dir() and not file.is_file():
        raise DataError(f"{path}: no {COMPARISON_FILE} in this folder.",
                        hint="give the --out folder of `evalkit compare`, or its comparison.json")
    data = read_json(file, "comparison")
    if not isinstance(data, dict) or not isinstance(data.get("suites"), list):
        raise DataError(f"{file}: not an evalkit comparison (no 'suites' list).",
                        hint="give the comparison.json written by `evalkit compare`")
    return Comparison(data=data, path=file)


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
