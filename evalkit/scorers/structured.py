"""Structured-output scorers: ``json_valid``, ``json_schema``, ``json_match``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evalkit.errors import ConfigError, bounded
from evalkit.scorers.base import ScoreFn, scorer
from evalkit.scorers.extract import find_json, never_crash, output_text, short
from evalkit.types import Generation, Sample, Score

_MISSING = object()


@scorer("json_valid")
def json_valid(*, allow_fence: bool = False) -> ScoreFn:
    """The output parses as JSON.

    With ``allow_fence`` a fenced block (```json ... ```) or the first
    ``{...}`` object inside the output is accepted too; the explanation says
    which was used.
    """

    @never_crash("json_valid")
    def score(sample: Sample, generation: Generation) -> Score:
        value, how, problem = find_json(output_text(generation), allow_fence)
        if how is None:
            return Score.of_bool(False, problem)
        return Score(value=1.0, passed=True, explanation=f"valid JSON ({how})", details={"source": how})

    return score


def _load_schema(schema: Any, suite_dir: Path | None) -> Any:
    if isinstance(schema, (dict, bool)):
        return schema
    if not isinstance(schema, (str, Path)) or not str(schema):
        raise ConfigError(f"option 'schema' must be an inline mapping or a file path, got {short(schema)}.")
    base = (suite_dir or Path.cwd()).resolve()
    path = (base / schema).resolve()
    if suite_dir is not None and not path.is_relative_to(base):
        raise ConfigError(f"schema path {str(schema)!r} points outside the suite folder {str(base)!r}.")
    if not path.is_file():
        raise ConfigError(f"schema file {str(path)!r} not found.")
    import yaml

    from evalkit.config import parse_yaml

    try:
        text = path.read_text(encoding="utf-8-sig")
        if path.suffix.lower() in (".yaml", ".yml"):
            return parse_yaml(text)  # aliases bounded, as in every config
        return json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"schema file {str(path)!r} cannot be read: {exc}".rstrip(".") + ".") from None


@scorer("json_schema")
def json_schema(*, schema: Any, allow_fence: bool = False, suite_dir: Path | None = None) -> ScoreFn:
    """The output's JSON validates against ``schema``.

    ``schema`` is an inline mapping or a JSON/YAML file path relative to the
    suite folder (paths escaping it are refused). The schema is checked when
    the scorer is built; failing outputs are explained with the JSON path of
    the most relevant error, e.g. ``$.priority: 'x' is not one of [...]``.
    """
    from jsonschema import exceptions, validators

    loaded = _load_schema(schema, suite_dir)
    if not isinstance(loaded, (dict, bool)):
        raise ConfigError(f"the JSON schema must be an object, got {type(loaded).__name__}.")
    cls = validators.validator_for(loaded)
    try:
        cls.check_schema(loaded)
    except exceptions.SchemaError as exc:
        where = exc.json_path if hasattr(exc, "json_path") else "$"
        raise ConfigError(f"invalid JSON schema at {where}: {bounded(exc.message, 300)}.") from None
    validator = cls(loaded, format_checker=cls.FORMAT_CHECKER)

    @never_crash("json_schema")
    def score(sample: Sample, generation: Generation) -> Score:
        value, how, problem = find_json(output_text(generation), allow_fence)
        if how is None:
            return Score.of_bool(False, problem)
        try:
            errors = list(validator.iter_errors(value))
        except exceptions.SchemaError as exc:  # pragma: no cover - checked at build time
            return Score.failed(f"json_schema: the schema is invalid: {exc.message}")
        except Exception as exc:  # referencing.exceptions.Unresolvable and friends
            return Score.failed(
                f"json_schema: cannot validate against the schema: {type(exc).__name__}: {exc}"
            )
        if not errors:
            return Score(
                value=1.0,
                passed=True,
                explanation=f"valid against the schema ({how})",
                details={"source": how, "errors": []},
            )
        best = exceptions.best_match(errors)
        messages = [f"{e.json_path}: {e.message}" for e in [best] + [e for e in errors if e is not best]]
        more = f" (+{len(messages) - 1} more)" if len(messages) > 1 else ""
        explanation = f"{_clip(messages[0])}{more}"
        return Score(
            value=0.0,
            passed=False,
            explanation=explanation,
            details={"source": how, "errors": [_clip(m) for m in messages[:10]]},
        )

    return score


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _lookup(obj: Any, field: str) -> Any:
    """``obj[field]``, or a dotted path ``a.b.c`` when no key has that literal name."""
    if isinstance(obj, dict) and field in obj:
        return obj[field]
    node = obj
    for part in field.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _equal(a: Any, b: Any, ignore_case: bool) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().casefold() == b.strip().casefold() if ignore_case else a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k], ignore_case) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y, ignore_case) for x, y in zip(a, b, strict=True))
    return a == b


@scorer("json_match")
def json_match(
    *, fields: list[str] | None = None, allow_fence: bool = False, ignore_case: bool = True
) -> ScoreFn:
    """The output's JSON object agrees with the target object, field by field.

    ``fields`` (default: the target's keys) may use dotted paths (``a.b``).
    Value is the fraction of fields equal; passed when all are. Strings are
    compared ignoring case and surrounding whitespace when ``ignore_case``;
    numbers compare by value (``1 == 1.0``), booleans only equal booleans.
    """
    if fields is not None and (
        not isinstance(fields, (list, tuple))
        or not fields
        or not all(isinstance(f, str) and f for f in fields)
    ):
        raise ConfigError(f"option 'fields' must be a non-empty list of field names, got {fields!r}.")

    @never_crash("json_match")
    def score(sample: Sample, generation: Generation) -> Score:
        target = sample.target
        if isinstance(target, str):
            try:
                target = json.loads(target)
            except ValueError:
                pass
        if not isinstance(target, dict):
            return Score.failed(f"json_match: the target must be a JSON object, got {short(sample.target)}")
        names = list(fields) if fields is not None else list(target)
        if not names:
            return Score.failed("json_match: the target object has no fields to compare")
        absent = [n for n in names if _lookup(target, n) is _MISSING]
        if absent:
            return Score.failed(f"json_match: the target has no field(s) {absent}")
        value, how, problem = find_json(output_text(generation), allow_fence)
        results = {n: False for n in names}
        if how is None:
            return Score(value=0.0, passed=False, explanation=problem, details={"fields": results})
        if not isinstance(value, dict):
            return Score(
                value=0.0,
                passed=False,
                explanation=f"output JSON is a {type(value).__name__}, not an object",
                details={"fields": results},
            )
        mismatches = []
        for name in names:
            got, want = _lookup(value, name), _lookup(target, name)
            results[name] = got is not _MISSING and _equal(got, want, ignore_case)
            if not results[name]:
                shown = "missing" if got is _MISSING else short(got, 60)
                mismatches.append(f"{name}: expected {short(want, 60)}, got {shown}")
        equal = sum(results.values())
        frac = equal / len(names)
        explanation = (
            f"all {len(names)} fields match"
            if not mismatches
            else f"{equal}/{len(names)} fields match; " + "; ".join(mismatches[:10])
        )
        if len(mismatches) > 10:
            explanation += f"; +{len(mismatches) - 10} more"
        return Score(
            value=frac,
            passed=not mismatches,
            explanation=explanation,
            details={"fields": results, "source": how},
        )

    return score
