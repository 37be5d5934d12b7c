"""The forgetting curve: every saved checkpoint scored on task and general suites, against the base.

Each ``checkpoint-N`` folder holds an adapter, its card and a ``tuned.yaml``
(written by :class:`evalkit.train.card.CheckpointCards`), so it loads like
the final adapter. :func:`evaluate_checkpoints` runs the base and every
checkpoint through :func:`evalkit.api.run_arm` on one shared ``BasePool``
(the base weights load once) with the generation cache on, and writes
``checkpoints.json``: per checkpoint its scores and deltas, ``task_gain``
(mean delta on task suites), ``forgetting`` (mean delta on regression and
general suites; negative means the model got worse there), whether it is on
the Pareto front of the two, whether it stays within the forgetting budget,
and the best accepted Pareto checkpoint. The ``checkpoint-N`` helpers used by
``--resume`` live here too.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from evalkit.errors import ConfigError
from evalkit.runner.store import write_json_atomic
from evalkit.suite.spec import FORGETTING_KINDS
from evalkit.train.spec import TrainingError

CHECKPOINTS_FILE = "checkpoints.json"


def last_checkpoint(output_dir: str | Path) -> Path | None:
    """The ``checkpoint-N`` folder with the highest N in ``output_dir``, if any."""
    folders = [p for p in Path(output_dir).glob("checkpoint-*") if p.is_dir() and p.name[11:].isdigit()]
    return max(folders, key=lambda p: int(p.name[11:])) if folders else None


def check_output_dir(output_dir: Path, resume: bool) -> Path | None:
    """The checkpoint to resume from (None for a fresh run); refuses to overwrite, or to resume nothing."""
    previous = last_checkpoint(output_dir)
    if resume and previous is None:
        raise TrainingError(f"--resume: no checkpoint-N folder in {output_dir} to continue from.",
                            hint="run without --resume to start training")
    if not resume and (previous is not None or (output_dir / "adapter_config.json").exists()):
        raise TrainingError(f"{output_dir} already holds a trained adapter or checkpoints.",
                            hint="pass --resume to continue from its last checkpoint, or choose another "
                            "output_dir (or delete that folder) to start over")
    return previous if resume else None


def checkpoint_dirs(output_dir: str | Path) -> list[Path]:
    """The ``checkpoint-N`` folders of a training output that carry a ``tuned.yaml``, by step."""
    found = [p for p in Path(output_dir).glob("checkpoint-*")
             if p.is_dir() and p.name[11:].isdigit() and (p / "tuned.yaml").is_file()]
    return sorted(found, key=lambda p: int(p.name[11:]))


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 6) if values else None


def mark_front(entries: list[dict], budget: float) -> str | None:
    """Set ``pareto`` and ``accepted`` on each entry; return the arm of the best accepted Pareto entry.

    Higher is better on both axes (a forgetting of -0.03 means general scores
    fell by 0.03). A missing axis (no task or no general suite) counts as 0.
    ``accepted`` means the forgetting stays within ``-budget``. The best is
    the accepted Pareto entry with the largest task gain (then least forgetting,
    then fewest steps).
    """
    def point(entry: dict) -> tuple[float, float]:
        return (entry["task_gain"] or 0.0, entry["forgetting"] or 0.0)

    for entry in entries:
        mine = point(entry)
        entry["pareto"] = not any(
            all(o >= m for o, m in zip(point(other), mine)) and point(other) != mine for other in entries)
        entry["accepted"] = entry["forgetting"] is None or entry["forgetting"] >= -budget - 1e-12
    chosen = [e for e in entries if e["pareto"] and e["accepted"]]
    if not chosen:
        return None
    return max(chosen, key=lambda e: (*point(e), -e["step"]))["arm"]


def curve_entry(step: int, arm: str, scores: dict[str, float | None], base: dict[str, float | None],
                kinds: dict[str, str]) -> dict:
    """One checkpoint's entry: per-suite score and delta vs base, task gain and forgetting."""
    detail, gains, drops = {}, [], []
    for suite, score in scores.items():
        delta = None if score is None or base.get(suite) is None else round(score - base[suite], 6)
        detail[suite] = {"score": score, "base": base.get(suite), "delta": delta, "kind": kinds[suite]}
        if delta is not None:
            (drops if kinds[suite] in FORGETTING_KINDS else gains).append(delta)
    return {"step": step, "arm": arm, "task_gain": _mean(gains), "forgetting": _mean(drops),
            "accepted": False, "pareto": False, "scores": detail}


def evaluate_checkpoints(
    output_dir: str | Path,
    suites: list[str],
    *,
    budget: float = 0.02,
    limit: int | None = None,
    use_cache: bool = True,
    progress: Callable | None = None,
    notice: Callable[[str], None] | None = None,
) -> dict:
    """Score the base and every checkpoint of ``output_dir`` on ``suites``; write/return checkpoints.json."""
    from evalkit.cache import open_cache
    from evalkit.models.hf_loading import BasePool
    from evalkit.models.loader import load_model
    from evalkit.models.spec import load_model_spec
    from evalkit.runner.run import run_arm
    from evalkit.suite.select import load_suites

    output_dir = Path(output_dir)
    folders = checkpoint_dirs(output_dir)
    if not folders:
        raise ConfigError(f"{output_dir}: no checkpoint-N folders with a tuned.yaml to evaluate.")
    loaded, skipped = load_suites(list(suites), limit=limit)
    for name, reason in skipped:
        if notice:
            notice(f"skipped {name}: {reason}")
    if not loaded:
        raise ConfigError("no evaluation suite could run for the checkpoint curve.")
    kinds = {s.name: s.spec.label for s in loaded}
    pool, cache, root = BasePool(), open_cache() if use_cache else None, output_dir / "checkpoint-runs"

    def scores_of(spec) -> dict[str, float | None]:
        results = run_arm(load_model(spec, pool=pool), loaded, root, cache=cache, progress=progress)
        return {suite.name: result.primary for suite, result in zip(loaded, results)}

    first = load_model_spec(folders[0] / "tuned.yaml")
    with warnings.catch_warnings():  # peft's deprecation chatter when attaching each adapter
        warnings.simplefilter("ignore", FutureWarning)
        base = scores_of(first.model_copy(update={"adapter": None, "name": "base"}))
        entries = []
        for folder in folders:
            spec = load_model_spec(folder / "tuned.yaml")
            step = int(folder.name[11:])
            entries.append(curve_entry(step, spec.display_name, scores_of(spec), base, kinds))
    best = mark_front(entries, budget)
    doc = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "forgetting_budget": budget,
        "limit": limit,
        "suites": [{"name": s.name, "kind": s.spec.label, "metric": s.spec.primary_metric} for s in loaded],
        "base": {"arm": "base", "scores": base},
        "checkpoints": entries,
        "best": best,
        "best_dir": next((str(f) for f, e in zip(folders, entries) if e["arm"] == best), None),
    }
    write_json_atomic(output_dir / CHECKPOINTS_FILE, doc)
    return doc
