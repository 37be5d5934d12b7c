"""Finding and loading lm-eval tasks for a suite: include paths, task index, hub data offline.

Building lm-eval's index of its ~10,000 bundled task configs takes seconds, so
task managers are cached per process, and a suite whose tasks all live in its
own ``include_path`` gets an index of just that folder. Tasks whose data comes
from the Hugging Face hub are loaded with the hub switched to offline mode when
it cannot be reached (one short TCP probe), so they load from the local cache
or fail at once with a :class:`DataError` instead of retrying for half a minute.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from evalkit.errors import ConfigError, DataError
from evalkit.suite.loader import Suite

_LOCK = threading.Lock()
_MANAGERS: dict[tuple, object] = {}
_PROBES: dict[str, bool] = {}
PROBE_TIMEOUT_S = 3.0
_SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints"}


def include_dir(suite: Suite) -> Path | None:
    """The suite's ``lm_eval.include_path`` resolved against the suite folder (None when unset)."""
    relative = suite.spec.lm_eval.include_path  # type: ignore[union-attr]
    if not relative:
        return None
    path = (suite.folder / relative).resolve()
    if not path.is_dir():
        raise ConfigError(f"{suite.folder / 'suite.yaml'}: lm_eval.include_path {relative!r} is not a folder "
                          f"(looked for {path}).")
    return path


def task_files_sha256(folder: Path | None) -> str:
    """sha256 over the files of a task folder (names and contents), so edits to a task change it.

    suite.yaml (its lm_eval section is hashed on its own) and Markdown notes are left out.
    """
    digest = hashlib.sha256()
    if folder is None:
        return ""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder)
        if _SKIP_PARTS.intersection(relative.parts) or any(part.startswith(".") for part in relative.parts):
            continue
        if path.name == "suite.yaml" or path.suffix == ".md":
            continue
        digest.update(f"{relative.as_posix()}\n".encode())
        digest.update(hashlib.sha256(path.read_bytes()).hexdigest().encode())
    return digest.hexdigest()


def config_digest(suite: Suite) -> str:
    """One digest naming what an lm-eval suite computes: its lm_eval section and its task files."""
    section = suite.spec.lm_eval.model_dump()  # type: ignore[union-attr]
    blob = json.dumps({"lm_eval": section, "files": task_files_sha256(include_dir(suite))}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def task_manager(include: Path | None, tasks: list[str]):
    """A cached ``TaskManager``; only the suite's own folder is indexed when it holds every task."""
    from lm_eval.tasks import TaskManager

    with _LOCK:
        if include is not None:
            key = (str(include), False)
            if key not in _MANAGERS:
                _MANAGERS[key] = TaskManager(include_path=str(include), include_defaults=False)
            local = _MANAGERS[key]
            if all(name in local.all_tasks for name in tasks):
                return local
        key = (str(include) if include else None, True)
        if key not in _MANAGERS:
            _MANAGERS[key] = TaskManager(include_path=str(include) if include else None)
        return _MANAGERS[key]


def hub_endpoint() -> str:
    """The Hugging Face hub address datasets would be fetched from."""
    if os.environ.get("HF_ENDPOINT"):
        return os.environ["HF_ENDPOINT"]
    from huggingface_hub import constants

    return constants.ENDPOINT


def hub_reachable(endpoint: str | None = None) -> bool:
    """Whether a TCP connection to the hub opens within a few seconds (cached per endpoint)."""
    endpoint = endpoint or hub_endpoint()
    if endpoint not in _PROBES:
        parsed = urlparse(endpoint)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            with socket.create_connection((parsed.hostname or "", port), timeout=PROBE_TIMEOUT_S):
                _PROBES[endpoint] = True
        except OSError:
            _PROBES[endpoint] = False
    return _PROBES[endpoint]


def _env_offline() -> bool:
    values = (os.environ.get(name, "") for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    return any(v.upper() in {"1", "ON", "YES", "TRUE"} for v in values)


@contextlib.contextmanager
def hub_access() -> Iterator[bool]:
    """Run a block with the hub offline when it is unreachable; yields whether it is offline.

    ``huggingface_hub`` and ``datasets`` read their offline switches at import
    time, so the module-level flags are set for the block and restored after.
    """
    if _env_offline():
        yield True
        return
    if hub_reachable():
        yield False
        return
    import datasets.config
    from huggingface_hub import constants

    saved = (constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE, datasets.config.HF_DATASETS_OFFLINE)
    constants.HF_HUB_OFFLINE = datasets.config.HF_HUB_OFFLINE = datasets.config.HF_DATASETS_OFFLINE = True
    try:
        yield True
    finally:
        constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE, datasets.config.HF_DATASETS_OFFLINE = saved


def check_tasks(suite: Suite, manager, offline: bool) -> dict[str, dict]:
    """Build every task of the suite once (data included) and describe it.

    Returns, per (sub)task: its number of documents, output type, the evalkit
    metric keys it will produce, its generation settings and version. Unknown
    task names raise :class:`ConfigError`; data that cannot be loaded (hub
    unreachable and not cached, missing files) raises :class:`DataError`.
    """
    where = suite.folder / "suite.yaml"
    info: dict[str, dict] = {}
    for name in suite.spec.lm_eval.tasks:  # type: ignore[union-attr]
        if name not in manager.all_tasks and not _is_pattern_or_path(name):
            raise ConfigError(
                f"{where}: lm-eval task {name!r} is not a known task, group or tag.",
                hint="check lm_eval.tasks and lm_eval.include_path (the folder holding the task YAML)",
            )
        try:
            loaded = manager.load([name])
        except Exception as exc:  # noqa: BLE001 - datasets and lm-eval raise many types for missing data
            raise _data_error(where, name, exc, offline) from None
        for task_name, task in loaded["tasks"].items():
            info[task_name] = describe_task(task)
    return info


def describe_task(task) -> dict:
    """What a loaded lm-eval task will compute: docs, output type, metric keys, generation settings."""
    from evalkit.lmeval.convert import metric_key

    filters = [getattr(f, "name", "none") for f in getattr(task, "_filters", [])] or ["none"]
    config = task.config
    generates = config.output_type == "generate_until"
    return {
        "docs": len(task.eval_docs),
        "output_type": config.output_type,
        "metric_keys": [metric_key(m, f) for f in filters for m in task.aggregation()],
        "generation_kwargs": dict(config.generation_kwargs or {}) if generates else None,
        "num_fewshot": config.num_fewshot,
        "version": (config.metadata or {}).get("version"),
    }


def _is_pattern_or_path(name: str) -> bool:
    return name.endswith((".yaml", ".yml")) or any(ch in name for ch in "*?[")


def _data_error(where: Path, name: str, exc: Exception, offline: bool) -> DataError:
    detail = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
    if offline or isinstance(exc, (ConnectionError, TimeoutError)):
        return DataError(
            f"{where}: lm-eval task {name!r} could not load its data: the Hugging Face hub is not reachable "
            f"from here ({hub_endpoint()}) and the dataset is not in the local cache ({detail}).",
            hint="run it once where the hub is reachable to fill the cache, or ship the data with a local "
            "task YAML (dataset_path: json, as in suites/gk-mc)",
        )
    return DataError(f"{where}: lm-eval task {name!r} could not load its data ({detail}).")
