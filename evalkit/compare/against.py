"""`evalkit run --against`: finished runs of one arm compared with a committed baseline."""

from __future__ import annotations

from pathlib import Path

from evalkit.compare.analysis import arm_kind, build_comparison
from evalkit.compare.baseline import baseline_arm, baseline_runs, load_baseline
from evalkit.compare.rundata import load_run_dir
from evalkit.compare.schema import Comparison
from evalkit.report.outputs import write_outputs
from evalkit.runner.rundir import safe_name
from evalkit.runner.schema import read_run_file
from evalkit.suite.loader import load_suite


def compare_runs_with_baseline(
    run_dirs: list[Path], baseline: str | Path, *, allow_mismatch: bool = False, out: str | Path | None = None
) -> Comparison:
    """Compare finished runs of one arm with a committed baseline; writes a report next to the runs."""
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
    return write_outputs(build_comparison(target.name, arms, runs), target)
