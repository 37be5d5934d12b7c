"""Finished lm-eval suite runs kept in evalkit's cache, so an unchanged re-run computes nothing.

An lm-eval run is all-or-nothing (lm-eval builds every request of a task at
once), so what is cached is the whole finished run: its run.json,
metrics.json, generations.jsonl and scores.jsonl, in the ``lmeval_results``
table of the generation cache's SQLite file. A hit writes the same files into
the new run folder, byte for byte for the per-sample files and lm-eval's
numbers; only what names the run rather than its results is refreshed (the
arm's display name and spec, the suite signature, timings, the finish time and
``generation.cached``). Nothing on that path imports lm-eval, torch or
transformers.

The key (:func:`result_key`) holds everything a recompute depends on: the
arm's fingerprint (weights, dtype, quantization, adapter, chat template text,
system prompt, decoding), lm-eval's prompting settings, the suite's
``lm_eval`` section (tasks, num_fewshot, limit, batch size, share_prefix) with
the content of every file of its include folder (task YAML, included YAML,
helpers, data), the primary metric, the versions of evalkit, lm-eval, torch,
transformers, peft and datasets, the accelerator torch would use, and the
model and task folders the reproduce command names. Only suites whose every
task is defined in the suite's own folder and reads local data are cached: a
task reading a hub dataset may see other data under the same name, so it is
always run.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

from evalkit.lmeval.adapter import prompting
from evalkit.lmeval.reproduce import model_folder
from evalkit.lmeval.tasks import config_digest, include_dir
from evalkit.models.accelerator import accelerator
from evalkit.models.fingerprint import combine
from evalkit.models.loader import Arm
from evalkit.redact import redact_record
from evalkit.runner.rundir import RunResult
from evalkit.runner.store import write_json_atomic, write_text_atomic
from evalkit.suite.loader import Suite
from evalkit.versions import package_versions

TABLE = "lmeval_results"
RESULT_FORMAT = 1  # bump when the files an lm-eval run writes change shape or meaning
_LOCAL_BUILDERS = {"json", "csv", "parquet", "text", "arrow"}
_FILES = {"generations": "generations.jsonl", "scores": "scores.jsonl"}


def result_key(arm: Arm, suite: Suite) -> str | None:
    """The cache key of ``arm`` on lm-eval ``suite``, or None when the suite's results cannot be cached."""
    include = include_dir(suite)
    tasks = list(suite.spec.lm_eval.tasks)  # type: ignore[union-attr]
    if include is None or not tasks_are_local(include, tasks):
        return None
    return combine({
        "format": RESULT_FORMAT,
        "fingerprint": arm.fingerprint,
        "prompting": prompting(arm).to_dict(),
        "suite_config": config_digest(suite),
        "primary_metric": suite.spec.primary_metric,
        "versions": package_versions(),
        "accelerator": accelerator(),
        "folders": {"model": model_folder(arm), "include": str(include)},
    })


def tasks_are_local(include: Path, tasks: list[str]) -> bool:
    """Whether every task is a YAML of ``include`` (by ``task:`` name) whose data is local.

    Local data: a ``dataset_path`` that is a file-format builder (json, csv, ...)
    or a path inside the folder (the files themselves are in the key through
    :func:`~evalkit.lmeval.tasks.config_digest`). Groups, tags, hub datasets and
    tasks from lm-eval's own catalogue are not local.
    """
    configs = _task_configs(include)
    return bool(tasks) and all(name in configs and _reads_local_data(configs[name], include)
                               for name in tasks)


def lookup(cache, arm: Arm, suite: Suite) -> dict | None:
    """The cached files of this arm's run of ``suite`` (None on a miss or when it cannot be cached)."""
    key = result_key(arm, suite)
    if cache is None or key is None:
        return None
    return cache.get_values(TABLE, [key]).get(key)


def store(cache, arm: Arm, suite: Suite, out: Path) -> None:
    """Keep a finished run folder's files under the run's key (nothing when it cannot be cached)."""
    key = result_key(arm, suite)
    if cache is None or key is None:
        return
    from evalkit.runner.schema import read_run_file

    value = {
        "run": read_run_file(out / "run.json", "run header"),
        "metrics": read_run_file(out / "metrics.json", "run metrics"),
        **{name: (out / file).read_text(encoding="utf-8") for name, file in _FILES.items()},
    }
    cache.put_values(TABLE, arm.fingerprint, [(key, value)])


def replay(entry: dict, arm: Arm, suite: Suite, signature: dict, out: Path, progress=None) -> RunResult:
    """Write a cached run into ``out`` for ``arm`` (its own name and spec) and return it as a result."""
    started = time.perf_counter()
    header = dict(entry["run"])
    header["suite"] = signature
    header["suite_dir"] = str(suite.folder)
    header["arm"] = {
        **header["arm"],
        "name": arm.name,
        "fingerprint": arm.fingerprint,
        "fingerprint_parts": arm.fingerprint_parts,
        "spec": redact_record(arm.spec.model_dump()),
    }
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "run.json", header)
    for name, file in _FILES.items():
        write_text_atomic(out / file, entry[name])
    metrics = dict(entry["metrics"])
    n = metrics.get("n_samples", 0)
    seconds = round(time.perf_counter() - started, 3)
    metrics.update(
        suite=signature,
        arm=header["arm"],
        fingerprint=arm.fingerprint,
        generation={**metrics.get("generation", {}), "cached": n},
        timings={"generate_s": seconds, "score_s": 0.0},
        finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    write_json_atomic(out / "metrics.json", metrics)
    if progress:
        progress(n, n)
    return RunResult(out, metrics, generated=0, cached=n, resumed=0)


class _AnyTagLoader(yaml.SafeLoader):
    """A YAML loader that reads lm-eval's ``!function`` (and any other) tags as plain text."""


def _tag_as_text(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> str | None:
    return f"{suffix} {loader.construct_scalar(node)}" if isinstance(node, yaml.ScalarNode) else None


_AnyTagLoader.add_multi_constructor("", _tag_as_text)


def _task_configs(include: Path) -> dict[str, dict]:
    """``task name -> config`` for the task YAMLs of a folder, with their ``include:`` files merged in."""
    raw: dict[Path, dict] = {}
    for path in sorted([*include.rglob("*.yaml"), *include.rglob("*.yml")]):
        if path.name == "suite.yaml":
            continue
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_AnyTagLoader)  # noqa: S506 - safe loader
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            continue
        if isinstance(data, dict):
            raw[path] = data
    configs: dict[str, dict] = {}
    for path, data in raw.items():
        merged = dict(data)
        base = data.get("include")
        if isinstance(base, str):
            parent = raw.get((path.parent / base).resolve()) or raw.get(path.parent / base)
            merged = {**(parent or {"dataset_path": "<unresolved include>"}), **data}
        name = merged.get("task")
        if isinstance(name, str):
            configs[name] = merged
    return configs


def _reads_local_data(config: dict, include: Path) -> bool:
    path = config.get("dataset_path")
    if not isinstance(path, str):
        return False
    if path in _LOCAL_BUILDERS:
        return True
    target = (include / path).resolve()
    return target.exists() and target.is_relative_to(include.resolve())
