"""The Python API behind every CLI command: it returns results and hands notices to a callback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from evalkit.cache import open_cache
from evalkit.compare.names import check_distinct_suites
from evalkit.errors import ConfigError
from evalkit.models.engine_choice import engine_notice
from evalkit.models.loader import load_model
from evalkit.models.spec import ModelSpec, load_model_spec, with_dtype
from evalkit.notices import notify
from evalkit.runner.run import run_arm, score_run_dir
from evalkit.runner.rundir import RunResult, arm_run_dir, safe_name
from evalkit.runner.schema import read_run_file
from evalkit.suite.loader import load_suite
from evalkit.suite.select import load_suites

# Imported by callers from here since before these names had their own modules.
__all__ = [
    "arm_run_dir",
    "open_cache",
    "rescore",
    "run_arm",
    "run_dirs_under",
    "run_model",
    "safe_name",
    "suites_for",
]

NoticeFn = Callable[[str, str], None]  # (suite name as given, why it was skipped)


def suites_for(spec: ModelSpec, requested: list[str]) -> list[str]:
    """The suites to run: ``--suite`` overrides the spec's own list."""
    names = list(requested) or list(spec.suites)
    if not names:
        raise ConfigError("no suites to run: pass --suite NAME or list suites: in the model spec.")
    return names


def run_model(
    model: str | Path | ModelSpec,
    *,
    suites: list[str] | None = None,
    limit: int | None = None,
    out: str | Path | None = None,
    use_cache: bool = True,
    resume: bool = True,
    progress: Callable | None = None,
    draws: int | None = None,
    notice: NoticeFn | None = None,
    dtype: str | None = None,
) -> list[RunResult]:
    """Run a model spec on suites (its own list unless ``suites`` is given); returns one result per suite.

    ``draws`` overrides the suites' and the spec's ``samples_per_item`` (seeded draws per item).
    Each suite that cannot run here is skipped with a notice, ``(name, reason)``, passed to
    ``notice`` (default: :func:`evalkit.notices.notify`). ``dtype`` overrides the spec's compute dtype.
    """
    spec = with_dtype(model if isinstance(model, ModelSpec) else load_model_spec(model), dtype)
    loaded_suites, skipped = load_suites(suites_for(spec, suites or []), limit=limit)
    for name, reason in skipped:
        if notice is None:
            notify(reason, f"skipped {name}")
        else:
            notice(name, reason)
    if not loaded_suites:
        raise ConfigError("no suite could run (see the notices above).")
    check_distinct_suites(loaded_suites)
    arm = load_model(spec)
    line = engine_notice(arm)
    if line:
        notify(line, "notice")
    root = Path(out) if out is not None else Path("runs")
    cache = open_cache() if use_cache else None
    return run_arm(arm, loaded_suites, root, cache=cache, resume=resume, progress=progress, draws=draws)


def run_dirs_under(run_dir: str | Path) -> list[Path]:
    """``run_dir`` itself when it is a run directory, else every run directory below it (sorted)."""
    root = Path(run_dir)
    headers = [root / "run.json"] if (root / "run.json").is_file() else sorted(root.rglob("run.json"))
    if not headers:
        raise ConfigError(f"{root}: no run.json found; is it an evalkit run directory?")
    return [h.parent for h in headers]


def rescore(run_dir: str | Path) -> list[dict]:
    """Re-score every run directory at or below ``run_dir`` from saved generations (see run_dirs_under)."""
    results = []
    for header_path in (d / "run.json" for d in run_dirs_under(run_dir)):
        header = read_run_file(header_path, "run header")
        folder = Path(header.get("suite_dir", ""))
        suite = load_suite(str(folder) if (folder / "suite.yaml").is_file() else header["suite"]["name"])
        results.append(score_run_dir(header_path.parent, suite))
    return results
