"""Load a suite folder (``suite.yaml`` + data) into a :class:`Suite` of samples."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.config import load_config, locate
from evalkit.errors import ConfigError, DataError
from evalkit.runner.store import split_lines
from evalkit.suite.columns import check_columns
from evalkit.suite.order import seeded_order
from evalkit.suite.spec import TEMPLATE_PLACEHOLDER, HubData, SuiteSpec
from evalkit.types import Sample

SUITES_ROOT = Path(__file__).resolve().parents[1] / "suites"  # the shipped suites, inside the package
SUITES_ENV = "EVALKIT_SUITES"  # os.pathsep-separated folders of user suites, searched before the shipped ones


@dataclass(frozen=True)
class Suite:
    """A validated suite: its spec, folder, samples and built scoring functions."""

    spec: SuiteSpec
    folder: Path
    samples: list[Sample]
    scorers: dict[str, Callable] = field(default_factory=dict, repr=False)
    data_sha256: str = ""

    @property
    def name(self) -> str:
        """The suite's name."""
        return self.spec.name

    def render_prompt(self, sample: Sample):
        """The model input for ``sample``: the template applied to text inputs."""
        template = self.spec.prompt_template
        if template is None or sample.is_chat:
            return sample.input
        return template.replace(TEMPLATE_PLACEHOLDER, sample.input)


def suite_search_path(search: list[Path] | None = None) -> list[Path]:
    """Folders searched for a suite given by name, in order.

    ``search`` first, then each folder of ``$EVALKIT_SUITES`` (os.pathsep-separated),
    then ``./suites`` of the working directory, then the suites shipped in the package.
    """
    roots = list(search or [])
    roots += [Path(part).expanduser() for part in os.environ.get(SUITES_ENV, "").split(os.pathsep) if part]
    roots += [Path.cwd() / "suites", SUITES_ROOT]
    return roots


def find_suite_dir(name_or_path: str, search: list[Path] | None = None) -> Path:
    """Resolve a suite given as a folder, a suite.yaml path, or a suite's name on the search path."""
    candidate = Path(name_or_path)
    if candidate.is_file() and candidate.name.endswith((".yaml", ".yml")):
        return candidate.parent
    if (candidate / "suite.yaml").is_file():
        return candidate
    roots = suite_search_path(search)
    for root in roots:
        if (root / name_or_path / "suite.yaml").is_file():
            return root / name_or_path
    known = sorted(p.parent.name for p in SUITES_ROOT.glob("*/suite.yaml"))
    hint = f"shipped suites: {', '.join(known)} (`evalkit suites list` shows every suite found)"
    missing = [str(r) for r in roots if not r.is_dir() and r != Path.cwd() / "suites"]
    if missing:
        hint += f"; not folders: {', '.join(missing)} (check ${SUITES_ENV})"
    raise ConfigError(
        f"suite {name_or_path!r} not found: no suite.yaml there, nor in "
        f"{', '.join(str(r) for r in roots if r.is_dir())}.",
        hint=hint + f"; give a suite folder, or add the folder holding it to ${SUITES_ENV}",
    )


def load_suite(name_or_path: str, *, limit: int | None = None, build_scorers: bool = True) -> Suite:
    """Load and validate a suite; ``limit`` keeps the first N samples of its seeded order.

    Samples come in the suite's fixed shuffled order (:func:`evalkit.suite.order.seeded_order`:
    the same for every arm and run, whole clusters together), never in file order, so a limit is
    an unbiased subset.  For an lm-eval suite the limit becomes lm-eval's (the first N documents
    of each task, in lm-eval's order), the smaller one when the suite sets its own.
    """
    from evalkit.scorers.registry import build_scorer

    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be at least 1 (got {limit}); leave it out to run every sample.")
    folder = find_suite_dir(name_or_path).resolve()
    spec_path = folder / "suite.yaml"
    spec = load_config(SuiteSpec, spec_path)
    if spec.engine == "lm-eval":
        if limit is not None and spec.lm_eval is not None:
            own = spec.lm_eval.limit
            section = spec.lm_eval.model_copy(update={"limit": limit if own is None else min(own, limit)})
            spec = spec.model_copy(update={"lm_eval": section})
        return Suite(spec=spec, folder=folder, samples=[])
    rows, data_hash, source = _read_rows(spec, folder)
    samples = _rows_to_samples(rows, spec, source)
    if not samples:
        raise DataError(f"{source}: the suite {spec.name!r} has no samples.")
    samples = seeded_order(samples, spec.name, spec.cluster_field)
    if limit is not None:
        samples = samples[:limit]
    scorers = {}
    if build_scorers:
        for index, cfg in enumerate(spec.scorers):
            where = f"{locate(spec_path, 'scorers', index, 'name')}: scorers[{index}]"
            scorers[cfg.key] = build_scorer(cfg.name, cfg.options, suite_dir=folder, where=where)
    return Suite(spec=spec, folder=folder, samples=samples, scorers=scorers, data_sha256=data_hash)


def resolve_inside(folder: Path, relative: str, what: str) -> Path:
    """Resolve ``relative`` against ``folder``, refusing paths that escape it."""
    path = (folder / relative).resolve()
    if folder.resolve() not in path.parents and path != folder.resolve():
        raise ConfigError(f"{folder / 'suite.yaml'}: {what} {relative!r} escapes the suite folder {folder}.")
    return path


def _read_rows(spec: SuiteSpec, folder: Path) -> tuple[list[tuple[int, dict]], str, str]:
    if isinstance(spec.data, HubData):
        return _read_hub(spec.data), f"hub:{spec.data.hub}:{spec.data.name}:{spec.data.split}", spec.data.hub
    path = resolve_inside(folder, spec.data, "data file")
    if not path.is_file():
        raise DataError(f"{folder / 'suite.yaml'}: data file {spec.data!r} not found (looked for {path}).")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    try:
        # utf-8-sig: Excel and Windows editors start files with a byte-order mark, which would
        # otherwise become part of the first CSV column's name ("\ufeffid") and lose the id column.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}:{line}: not valid UTF-8 (byte offset {exc.start}); save the file as UTF-8."
        ) from None
    fmt = spec.format if spec.format != "auto" else path.suffix.lstrip(".").lower()
    readers = {"jsonl": read_jsonl_text, "json": _read_json_text, "csv": _read_csv_text}
    if fmt not in readers:
        raise DataError(
            f"{path}: cannot tell the data format from the extension; set format: jsonl|json|csv."
        )
    return readers[fmt](text, str(path)), digest, str(path)


def read_jsonl_text(text: str, source: str) -> list[tuple[int, dict]]:
    """Parse JSON lines, returning (line number, object) pairs; errors name file and line."""
    rows = []
    for number, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line, parse_constant=_refuse_constant)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{source}:{number}: malformed JSON line: {exc.msg} (column {exc.colno})."
            ) from None
        except ValueError as exc:
            raise DataError(f"{source}:{number}: {exc}") from None
        if not isinstance(obj, dict):
            raise DataError(f"{source}:{number}: expected a JSON object, got {type(obj).__name__}.")
        rows.append((number, obj))
    return rows


def _refuse_constant(name: str):
    """NaN / Infinity are not JSON (Python accepts them); a target of NaN would poison every output file."""
    raise ValueError(f"{name} is not a JSON value; write null or a number.")


def read_jsonl(path: str | Path) -> list[tuple[int, dict]]:
    """Read a JSONL file (UTF-8) into (line, object) pairs with located errors."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 (byte offset {exc.start}).") from None
    return read_jsonl_text(text, str(path))


def _read_json_text(text: str, source: str) -> list[tuple[int, dict]]:
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise DataError(f"{source}:{exc.lineno}: malformed JSON: {exc.msg}.") from None
    except ValueError as exc:
        raise DataError(f"{source}: {exc}") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DataError(f"{source}: expected a JSON list of objects.")
    return [(i + 1, r) for i, r in enumerate(data)]


def _read_csv_text(text: str, source: str) -> list[tuple[int, dict]]:
    # A file-like reader keeps quoted fields with line breaks (or U+2028) in one row.
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return [(reader.line_num, dict(row)) for row in reader]
    except csv.Error as exc:
        raise DataError(f"{source}:{reader.line_num}: malformed CSV: {exc}.") from None


def _read_hub(data: HubData) -> list[tuple[int, dict]]:
    try:
        import datasets

        ds = datasets.load_dataset(data.hub, data.name, split=data.split)
    except Exception as exc:  # noqa: BLE001 - datasets raises many types offline
        raise DataError(
            f"could not load dataset {data.hub!r} (config {data.name!r}, split {data.split!r}): "
            f"{type(exc).__name__}: {str(exc)[:300]}",
            hint="offline? use a local JSONL/CSV file next to suite.yaml instead",
        ) from None
    return [(i + 1, dict(row)) for i, row in enumerate(ds)]


def _rows_to_samples(rows: list[tuple[int, dict]], spec: SuiteSpec, source: str) -> list[Sample]:
    fields = spec.fields
    samples: list[Sample] = []
    seen: dict[str, int] = {}
    check_columns(rows, spec, source)
    for line, row in rows:
        value = row.get(fields.input, row.get("messages"))
        if value is None:
            raise DataError(f"{source}:{line}: row has no {fields.input!r} (or 'messages') field.")
        if not isinstance(value, (str, list)):
            raise DataError(f"{source}:{line}: {fields.input!r} must be text or a list of chat messages.")
        _check_input(value, f"{source}:{line}", fields.input)
        sample_id = row.get(fields.id)
        sample_id = str(sample_id) if sample_id is not None else _content_id(value)
        if sample_id in seen:
            raise DataError(
                f"{source}:{line}: duplicate sample id {sample_id!r} (first seen on line {seen[sample_id]}).",
                hint="ids must be unique so runs can be joined sample by sample",
            )
        seen[sample_id] = line
        metadata = _metadata(
            row, fields.metadata, exclude={fields.id, fields.input, fields.target, "messages"}
        )
        samples.append(Sample(id=sample_id, input=value, target=row.get(fields.target), metadata=metadata))
    return samples


_ROLES = ("system", "user", "assistant")


def _check_input(value: str | list, where: str, name: str) -> None:
    """Chat messages need a role and text content; text must be valid Unicode (no lone surrogates)."""
    texts = [value] if isinstance(value, str) else []
    if isinstance(value, list):
        if not value:
            raise DataError(f"{where}: {name!r} is an empty list of chat messages.")
        for index, message in enumerate(value):
            if not isinstance(message, dict) or not isinstance(message.get("content"), str):
                raise DataError(
                    f"{where}: {name}[{index}]: a chat message must be an object with a 'role' and a text "
                    f"'content'; got {json.dumps(message, default=str)[:80]}."
                )
            if not isinstance(message.get("role"), str) or not message["role"]:
                raise DataError(
                    f"{where}: {name}[{index}]: a chat message needs a 'role' ({', '.join(_ROLES)}, ...)."
                )
            texts.append(message["content"])
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise DataError(
                f"{where}: {name!r} holds a lone surrogate ({text[exc.start]!r} escape), which is not "
                "valid Unicode; fix the data file."
            ) from None


def _metadata(row: dict, keys: list[str] | None, exclude: set[str]) -> dict[str, Any]:
    meta = dict(row.get("metadata") or {}) if isinstance(row.get("metadata"), dict) else {}
    extra = keys if keys is not None else [k for k in row if k not in exclude and k != "metadata"]
    for key in extra:
        if key in row:
            meta[key] = row[key]
    return meta


def _content_id(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return hashlib.sha256(blob).hexdigest()[:12]
