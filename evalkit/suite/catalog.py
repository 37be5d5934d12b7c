"""The suites evalkit can find by name: the shipped ones and those on the search path.

Used by ``evalkit suites list`` and ``evalkit suites show``. Listing never
downloads anything: a suite whose data lives on the Hugging Face hub shows no
sample count, and an lm-eval suite's count is read from its task files' local
``data_files`` when they name any.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from evalkit.config import load_config
from evalkit.errors import EvalkitError
from evalkit.runner.store import split_lines
from evalkit.suite.loader import SUITES_ROOT, find_suite_dir, load_suite, suite_search_path
from evalkit.suite.spec import HubData, SuiteSpec


@dataclass(frozen=True)
class SuiteEntry:
    """One suite found on the search path (the first of several with the same name wins)."""

    name: str
    kind: str
    version: str
    samples: int | None
    description: str
    folder: str
    source: str  # "shipped" or the search-path folder it was found in
    data: str | None
    provenance: str | None
    error: str | None = None  # why the suite could not be read, when it could not

    def to_dict(self) -> dict:
        """Plain-dict form (``--format json``)."""
        return asdict(self)


def list_suites() -> list[SuiteEntry]:
    """Every suite reachable by name, sorted by name; shadowed duplicates are left out."""
    found: dict[str, SuiteEntry] = {}
    for root in suite_search_path():
        if not root.is_dir():
            continue
        for spec_path in sorted(root.glob("*/suite.yaml")):
            name = spec_path.parent.name
            if name not in found:
                found[name] = describe(spec_path.parent, _source(root))
    return [found[name] for name in sorted(found)]


def show_suite(name_or_path: str) -> tuple[SuiteEntry, SuiteSpec]:
    """The entry and validated spec of one suite, given as a name or a folder."""
    folder = find_suite_dir(name_or_path).resolve()
    entry = describe(folder, _source(folder.parent))
    return entry, load_config(SuiteSpec, folder / "suite.yaml")


def describe(folder: Path, source: str) -> SuiteEntry:
    """Summarise the suite in ``folder``; a broken suite is listed with its error, not raised."""
    try:
        spec = load_config(SuiteSpec, folder / "suite.yaml")
    except EvalkitError as exc:
        return SuiteEntry(folder.name, "?", "?", None, "", str(folder), source, None, None, error=exc.message)
    data, samples, error = _data_and_count(spec, folder)
    description = " ".join(spec.description.split())
    return SuiteEntry(spec.name, spec.label, spec.version, samples, description, str(folder), source, data,
                      spec.provenance and " ".join(spec.provenance.split()), error)


def _source(root: Path) -> str:
    return "shipped" if root.resolve() == SUITES_ROOT.resolve() else str(root)


def _data_and_count(spec: SuiteSpec, folder: Path) -> tuple[str | None, int | None, str | None]:
    """(data location, sample count, error) without downloading anything."""
    if isinstance(spec.data, HubData):
        return f"hub:{spec.data.hub}" + (f":{spec.data.name}" if spec.data.name else ""), None, None
    if spec.engine == "lm-eval":
        return _lm_eval_data(spec, folder)
    try:
        suite = load_suite(str(folder), build_scorers=False)
    except EvalkitError as exc:
        return str(folder / str(spec.data)), None, exc.message
    return str(folder / str(spec.data)), len(suite.samples), None


class _TaskLoader(yaml.SafeLoader):
    """Reads lm-eval task YAML, whose ``!function`` tags SafeLoader refuses."""


_TaskLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _lm_eval_data(spec: SuiteSpec, folder: Path) -> tuple[str | None, int | None, str | None]:
    """The local data files of an lm-eval suite's tasks and their documents (first test split, ``limit``)."""
    cfg = spec.lm_eval
    if cfg is None or not cfg.include_path or not (folder / cfg.include_path).is_dir():
        return None, None, None
    include = (folder / cfg.include_path).resolve()
    files, total = [], 0
    for task_file in sorted(include.glob("*.yaml")):
        if task_file.name == "suite.yaml":
            continue
        try:
            task = yaml.load(task_file.read_text(encoding="utf-8"), Loader=_TaskLoader)  # noqa: S506
        except yaml.YAMLError:
            continue
        if not isinstance(task, dict) or task.get("task") not in cfg.tasks:
            continue
        data_files = (task.get("dataset_kwargs") or {}).get("data_files")
        split = task.get("test_split") or "test"
        path = data_files.get(split) if isinstance(data_files, dict) else data_files
        if not isinstance(path, str) or not (include / path).is_file():
            return None, None, None  # a hub dataset or a layout we cannot count offline
        docs = sum(1 for line in split_lines((include / path).read_text(encoding="utf-8")) if line.strip())
        files.append(str(include / path))
        total += min(docs, cfg.limit) if cfg.limit else docs
    if not files:
        return None, None, None
    return ", ".join(files), total, None
