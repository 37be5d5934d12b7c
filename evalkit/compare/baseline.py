"""Committed baselines: per-sample scores + metrics + fingerprint, small enough to commit."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from evalkit.compare.rundata import RunData, SampleResult, load_run_dir
from evalkit.errors import DataError, EvalkitError
from evalkit.paths import safe_component
from evalkit.runner.schema import read_run_file
from evalkit.runner.store import read_json, write_json_atomic
from evalkit.types import SCHEMA_VERSION

BASELINE_KIND = "evalkit-baseline"


def find_run_dirs(source: str | Path, arm: str | None = None) -> list[Path]:
    """Run directories of one arm under a run dir, an arm folder, or a compare output dir."""
    root = Path(source)
    if (root / "run.json").is_file():
        return [root]
    dirs = sorted(p.parent for p in root.rglob("run.json"))
    if not dirs:
        raise DataError(f"{root}: no evalkit runs found (no run.json below it).")
    arms: dict[str, list[Path]] = {}
    for d in dirs:
        arms.setdefault(read_run_file(d / "run.json", "run header")["arm"]["name"], []).append(d)
    if arm is None:
        if len(arms) > 1:
            raise EvalkitError(
                f"{root} holds runs of several arms ({', '.join(arms)}); choose one with --arm."
            )
        arm = next(iter(arms))
    if arm not in arms:
        raise EvalkitError(f"{root}: no runs of arm {arm!r} (found: {', '.join(arms)}).")
    return arms[arm]


def build_baseline(name: str, run_dirs: list[Path]) -> dict:
    """A baseline document from finished run directories of one arm."""
    suites, arm, versions = {}, None, None
    for d in run_dirs:
        run = load_run_dir(d)
        arm = arm or {k: run.arm[k] for k in ("name", "fingerprint", "fingerprint_parts", "spec")}
        if run.arm["fingerprint"] != arm["fingerprint"]:
            raise EvalkitError(f"{d}: runs of different model fingerprints cannot go into one baseline.")
        versions = run.metrics.get("versions")
        kept = {sid: s for sid, s in sorted(run.samples.items()) if s.error is None}
        suites[run.suite["name"]] = {
            "signature": run.suite,
            "metrics": run.metrics["metrics"],
            "primary_metric": run.primary,
            "samples_per_item": run.samples_per_item,
            "samples": {sid: [s.value, s.passed] for sid, s in kept.items()},
        }
        draws = {sid: s.draws for sid, s in kept.items() if s.draws is not None}
        if draws:  # beside "samples", so [value, passed] pairs keep their shape for older readers
            suites[run.suite["name"]]["draws"] = draws
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": BASELINE_KIND,
        "name": name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "arm": arm,
        "versions": versions,
        "suites": suites,
    }


def save_baseline(
    source: str | Path,
    name: str,
    *,
    directory: str | Path = "baselines",
    arm: str | None = None,
    bless: bool = False,
) -> Path:
    """Write ``directory/NAME.json``; refuses to overwrite unless ``bless`` (a deliberate update)."""
    path = Path(directory) / f"{safe_component(name, fallback='baseline')}.json"  # never outside directory
    doc = build_baseline(name, find_run_dirs(source, arm))
    if path.exists():
        if not bless:
            raise EvalkitError(f"{path} exists; use `evalkit baseline bless` to update it deliberately.")
        previous = load_baseline(path)
        doc["blessed_over"] = {"fingerprint": previous["arm"]["fingerprint"], "created": previous["created"]}
    write_json_atomic(path, doc)
    return path


def baseline_arm(doc: dict) -> dict:
    """The arm entry of a comparison whose reference is this baseline."""
    from evalkit.compare.analysis import arm_kind

    return {
        "name": f"baseline:{doc['name']}",
        "kind": arm_kind(doc["arm"].get("spec") or {}),
        "fingerprint": doc["arm"]["fingerprint"],
        "spec": doc["arm"].get("spec"),
        "baseline_created": doc["created"],
    }


def load_baseline(path: str | Path) -> dict:
    """Read a baseline file, with a clear error when it is corrupt or not a baseline."""
    doc = read_json(path, "baseline")
    if not isinstance(doc, dict) or doc.get("kind") != BASELINE_KIND or "suites" not in doc:
        raise DataError(
            f"{path}: not an evalkit baseline file (missing kind/suites); regenerate it with "
            f"`evalkit baseline save`."
        )
    problem = _shape_problem(doc)
    if problem:
        raise DataError(
            f"{path}: corrupt baseline: {problem}.",
            hint="regenerate it with `evalkit baseline save` (or restore it from version control)",
        )
    return doc


def _shape_problem(doc: dict) -> str | None:
    """What is structurally wrong with a baseline document (None when it can be used)."""
    arm = doc.get("arm")
    if not isinstance(arm, dict) or not isinstance(arm.get("fingerprint"), str) or not arm.get("name"):
        return "'arm' must be an object with a name and a fingerprint"
    if arm.get("spec") is not None and not isinstance(arm["spec"], dict):
        return "'arm.spec' must be an object"
    if not isinstance(doc.get("name"), str) or not isinstance(doc.get("created"), str):
        return "'name' and 'created' must be strings"
    suites = doc["suites"]
    if not isinstance(suites, dict) or not suites:
        return "'suites' must be a non-empty object"
    for name, entry in suites.items():
        where = f"suites.{name}"
        if not isinstance(entry, dict):
            return f"{where} must be an object"
        for key, kind in (("signature", dict), ("metrics", dict), ("primary_metric", str), ("samples", dict)):
            if not isinstance(entry.get(key), kind):
                return f"{where}.{key} is missing or not a {kind.__name__}"
        if entry["primary_metric"] not in entry["metrics"]:
            return f"{where}.primary_metric {entry['primary_metric']!r} has no entry in its metrics"
        for sample_id, pair in entry["samples"].items():
            if not (
                isinstance(pair, list)
                and len(pair) == 2
                and (pair[0] is None or (isinstance(pair[0], (int, float)) and not isinstance(pair[0], bool)))
                and (pair[1] is None or isinstance(pair[1], bool))
            ):
                return f"{where}.samples.{sample_id} must be [value, passed], got {pair!r}"[:300]
        problem = _draws_problem(entry, where)
        if problem:
            return problem
    return None


def _draws_problem(entry: dict, where: str) -> str | None:
    """What is wrong with a suite entry's optional per-draw values (None when absent or fine)."""
    if "samples_per_item" in entry and not (
        isinstance(entry["samples_per_item"], int) and entry["samples_per_item"] >= 1
    ):
        return f"{where}.samples_per_item must be a positive integer"
    draws = entry.get("draws")
    if draws is None:
        return None
    if not isinstance(draws, dict):
        return f"{where}.draws must be an object of sample id -> list of values"
    for sample_id, values in draws.items():
        if sample_id not in entry["samples"]:
            return f"{where}.draws.{sample_id} has no entry in samples"[:300]
        numbers = isinstance(values, list) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
        )
        if not numbers:
            return f"{where}.draws.{sample_id} must be a list of numbers, got {values!r}"[:300]
    return None


def baseline_runs(
    doc: dict, current: dict[str, RunData], *, allow_mismatch: bool, source: str
) -> dict[str, RunData]:
    """Baseline suites as RunData, checked against the current runs' fingerprint and suite signatures."""
    out = {}
    problems = []
    for suite, run in current.items():
        if suite not in doc["suites"]:
            problems.append(f"suite {suite!r} is not in the baseline (it has {', '.join(doc['suites'])})")
            continue
        entry = doc["suites"][suite]
        if run.arm["fingerprint"] != doc["arm"]["fingerprint"]:
            problems.append(
                f"model fingerprint differs ({run.arm['fingerprint'][:12]} now, "
                f"{doc['arm']['fingerprint'][:12]} in the baseline)"
            )
        for key in ("version", "data_sha256", "scorers", "prompt_template"):
            if entry["signature"].get(key) != run.suite.get(key):
                problems.append(f"suite {suite!r}: {key} differs from the baseline's")
        draws = entry.get("draws") or {}
        samples = {
            sid: SampleResult(value=v, passed=p, draws=draws.get(sid))
            for sid, (v, p) in entry["samples"].items()
        }
        metrics = {
            "primary_metric": entry["primary_metric"],
            "metrics": entry["metrics"],
            "samples_per_item": entry.get("samples_per_item", 1),
        }
        out[suite] = RunData(
            suite=entry["signature"], arm=doc["arm"], metrics=metrics, samples=samples, source=source
        )
    hard = [p for p in problems if "not in the baseline" in p]
    soft = sorted(set(problems) - set(hard))
    if hard or (soft and not allow_mismatch):
        raise EvalkitError(
            f"{source}: the baseline does not match this run: " + "; ".join(hard + soft) + ".",
            hint=None
            if hard
            else "pass --allow-mismatch to compare anyway, or re-bless the "
            "baseline with `evalkit baseline bless`",
        )
    return out
