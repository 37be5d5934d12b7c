"""The Python API behind every CLI command."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.markup import escape

from evalkit.cache import GenerationCache
from evalkit.cli_support import err_console
from evalkit.compare.names import check_distinct_suites
from evalkit.errors import ConfigError, SuiteSkipped
from evalkit.models.engine_choice import engine_notice
from evalkit.models.loader import Arm, load_model
from evalkit.models.spec import ModelSpec, load_model_spec
from evalkit.paths import safe_component
from evalkit.runner.run import RunResult, effective_draws, run_suite, score_run_dir
from evalkit.runner.schema import read_run_file
from evalkit.suite.loader import Suite, load_suite


def open_cache() -> GenerationCache:
    """The generation cache under ``$EVALKIT_HOME``."""
    from evalkit.home import cache_db_path

    return GenerationCache(cache_db_path())


def safe_name(text: str) -> str:
    """A file-system-safe, collision-free version of a display name (see :func:`safe_component`)."""
    return safe_component(text, fallback="model")


def arm_run_dir(root: Path, arm: Arm, suite_name: str) -> Path:
    """Where an arm's run of a suite lives under ``root`` (names never escape it)."""
    arm_dir = f"{safe_name(arm.name)}-{arm.fingerprint[:8]}"
    return root / arm_dir / safe_component(suite_name, fallback="suite")


def suites_for(spec: ModelSpec, requested: list[str]) -> list[str]:
    """The suites to run: ``--suite`` overrides the spec's own list."""
    names = list(requested) or list(spec.suites)
    if not names:
        raise ConfigError("no suites to run: pass --suite NAME or list suites: in the model spec.")
    return names


def run_arm(
    arm: Arm,
    suites: list[Suite],
    root: Path,
    *,
    cache: GenerationCache | None,
    resume: bool = True,
    progress: Callable | None = None,
    draws: int | None = None,
) -> list[RunResult]:
    """Run one arm on several suites, each in its own run directory under ``root``.

    ``draws`` (``--draws``) overrides every suite's ``samples_per_item``; all
    arm/suite pairs are checked before anything runs.
    """
    counts = [effective_draws(arm, suite, draws) for suite in suites]
    results = []
    for suite, k in zip(suites, counts):
        out = arm_run_dir(root, arm, suite.name)
        if progress is None:
            results.append(run_suite(arm, suite, out, cache=cache, resume=resume, draws=draws))
            continue
        with progress(f"{arm.name} · {suite.name}", len(suite.samples) * k or None) as update:
            results.append(
                run_suite(arm, suite, out, cache=cache, resume=resume, progress=update, draws=draws)
            )
    return results


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
) -> list[RunResult]:
    """Run a model spec on suites (its own list unless ``suites`` is given); returns one result per suite.

    ``draws`` overrides the suites' and the spec's ``samples_per_item`` (seeded draws per item).
    """
    spec = model if isinstance(model, ModelSpec) else load_model_spec(model)
    loaded_suites = []
    for name in suites_for(spec, suites or []):
        try:
            loaded_suites.append(load_suite(name, limit=limit))
        except SuiteSkipped as exc:
            err_console.print(f"[yellow]skipped {escape(name)}:[/] {escape(exc.message)}")
    if not loaded_suites:
        raise ConfigError("no suite could run (see the notices above).")
    check_distinct_suites(loaded_suites)
    arm = load_model(spec)
    notice = engine_notice(arm)
    if notice:
        err_console.print(f"[yellow]notice:[/] {escape(notice)}")
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


def compare_runs_with_baseline(
    run_dirs: list[Path], baseline: str | Path, *, allow_mismatch: bool = False, out: str | Path | None = None
) -> dict:
    """Compare finished runs of one arm with a committed baseline; writes a report next to the runs."""
    from evalkit.cli_output import print_comparison
    from evalkit.compare.analysis import arm_kind, build_comparison
    from evalkit.compare.baseline import baseline_arm, baseline_runs, load_baseline
    from evalkit.compare.orchestrate import write_outputs
    from evalkit.compare.rundata import load_run_dir

    doc = load_baseline(baseline)
    current = {}
    arm = None
    for run_dir in run_dirs:
        header = read_run_file(Path(run_dir) / "run.json", "run header")
        suite = load_suite(header.get("suite_dir") or header["suite"]["name"])
        run = load_run_dir(
            run_dir, {s.id: s for s in suite.samples}, suite.spec.category_field, suite.spec.cluster_field
        )
        current[run.suite["name"]] = run
        arm = run.arm
    reference = baseline_runs(doc, current, allow_mismatch=allow_mismatch, source=str(baseline))
    ref_arm = baseline_arm(doc)
    label = ref_arm["name"]
    runs = {}
    for suite, run in current.items():
        reference[suite].inputs = run.inputs
        runs[suite] = {label: reference[suite], arm["name"]: run}
    arms = [
        {
            "name": label,
            "kind": arm_kind(doc["arm"].get("spec") or {}),
            "fingerprint": doc["arm"]["fingerprint"],
            "spec": doc["arm"].get("spec"),
        },
        {
            "name": arm["name"],
            "kind": arm_kind(arm["spec"]),
            "fingerprint": arm["fingerprint"],
            "spec": arm["spec"],
        },
    ]
    target = Path(out) if out else Path(run_dirs[0]).parent / f"against-{safe_name(doc['name'])}"
    comparison = build_comparison(target.name, arms, runs)
    write_outputs(comparison, target)
    print_comparison(comparison)
    return comparison
