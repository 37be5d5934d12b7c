"""Loading YAML configs into strict pydantic models with errors that say where.

Every config model derives from :class:`StrictModel` (unknown keys are errors).
:func:`load_config` turns YAML syntax errors and validation errors into one
:class:`~evalkit.errors.ConfigError` naming the file, the line and the field,
and suggesting the closest valid key for a misspelling.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from evalkit.errors import ConfigError

T = TypeVar("T", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for every config: unknown keys are errors, instances are frozen."""

    # allow_inf_nan=False: `.inf` / `.nan` in YAML is never a meaningful setting (a temperature, a budget).
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=(), allow_inf_nan=False)


#: Bounds on what a YAML file may expand to through anchors and aliases (a "billion laughs" file of
#: 20 lines otherwise becomes hundreds of MB in run.json). Real configs are far below both.
MAX_YAML_ALIASES = 1000
MAX_YAML_EXPANDED = 2_000_000  # nodes + characters of scalars, counting every alias expansion


class _LineLoader(yaml.SafeLoader):
    """A SafeLoader that remembers the line of every mapping key and bounds alias expansion."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            self._aliases = getattr(self, "_aliases", 0) + 1
            if self._aliases > MAX_YAML_ALIASES:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_YAML_ALIASES} aliases (*name); refusing to expand them", mark
                )
        return super().compose_node(parent, index)

    def construct_document(self, node):
        size = expanded_size(node)
        if size > MAX_YAML_EXPANDED:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"anchors and aliases expand this document to over {MAX_YAML_EXPANDED:,} nodes and "
                f"characters ({size:,}); refusing to load it",
                node.start_mark,
            )
        return super().construct_document(node)


def expanded_size(node: yaml.Node) -> int:
    """Nodes plus scalar characters of ``node`` with every alias expanded (computed without expanding)."""
    memo: dict[int, int] = {}

    def size(current: yaml.Node) -> int:
        key = id(current)
        if key in memo:
            return memo[key]
        memo[key] = 1  # a recursive alias counts once instead of looping
        if isinstance(current, yaml.ScalarNode):
            total = 1 + len(current.value)
        elif isinstance(current, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in current.value)
        else:
            total = 1 + sum(size(child) for child in current.value)
        memo[key] = total
        return total

    return size(node)


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False):
    mapping = {}
    lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=deep)
        lines[key] = key_node.start_mark.line + 1
    return _LinedDict(mapping, lines)


class _LinedDict(dict):
    """A dict that also knows the source line of each key."""

    def __init__(self, data: dict, lines: dict):
        super().__init__(data)
        self.lines = lines


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str) -> Any:
    """YAML text parsed safely, with alias expansion bounded (raises ``yaml.YAMLError``)."""
    return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file, raising ConfigError with file and line on bad syntax."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found.")
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: a byte-order mark from a Windows editor
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 (byte {exc.start}).") from None
    try:
        return parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: malformed YAML: {problem}.") from None


def _line_of(data: Any, loc: tuple) -> int | None:
    line = None
    node = data
    for part in loc:
        if isinstance(node, _LinedDict) and part in node.lines:
            line = node.lines[part]
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            break
    return line


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names valid at ``loc`` (best effort, for misspelling hints)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = current.model_fields
            if part not in fields:
                return []
            current = fields[part].annotation
        else:  # a dict or list container: step into its value type
            args = [a for a in (getattr(current, "__args__", ()) or ()) if a is not type(None)]
            current = args[-1] if args else None
        current = _first_model(current) or current
        if current is None:
            return []
    return list(getattr(current, "model_fields", {}).keys())


def _first_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = getattr(annotation, "__origin__", None)
    if origin in (dict, list):
        return None
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def format_validation_error(exc: ValidationError, model: type[BaseModel], data: Any, source: str) -> str:
    """Render a pydantic error as 'file:line: field: problem' lines with hints."""
    lines = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        field = ".".join(str(p) for p in loc) or "(top level)"
        line = _line_of(data, loc)
        where = f"{source}:{line}" if line else source
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            key = str(loc[-1])
            allowed = _allowed_keys(model, loc)
            close = difflib.get_close_matches(key, allowed, n=1)
            msg = f"unknown key {key!r}"
            if close:
                msg += f" (did you mean {close[0]!r}?)"
            elif allowed:
                msg += f" (allowed: {', '.join(sorted(allowed))})"
        elif err.get("type") == "missing":
            msg = "required key is missing"
        lines.append(f"{where}: {field}: {msg}")
    return "\n".join(lines)


def validate_config(model: type[T], data: Any, source: str) -> T:
    """Validate already-parsed data against ``model``, raising ConfigError."""
    if data is None:
        raise ConfigError(f"{source}: the file is empty; expected a mapping of {model.__name__} keys.")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            f"invalid {model.__name__} in {source}:\n" + format_validation_error(exc, model, data, source)
        ) from None


def load_config(model: type[T], path: str | Path) -> T:
    """Read a YAML file and validate it as ``model`` (strict, with located errors)."""
    return validate_config(model, read_yaml(path), str(path))


def locate(path: str | Path, *keys: str | int) -> str:
    """``"path:line"`` of the key at ``keys`` in a YAML file (just ``"path"`` when it cannot be found).

    For errors found after validation (a directory that does not exist, a gate
    rule naming a suite that is not in the run), so they still point at a line.
    """
    try:
        line = _line_of(read_yaml(path), tuple(keys))
    except ConfigError:
        line = None
    return f"{path}:{line}" if line else str(path)
