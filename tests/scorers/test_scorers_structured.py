"""json_valid, json_schema and json_match."""

from __future__ import annotations

import json

import pytest

from evalkit.errors import ConfigError

FENCED = 'Sure! Here it is:\n```json\n{"a": 1}\n```\nAnything else?'
EMBEDDED = 'The result is {"a": 1, "b": [1, 2]} as requested.'


@pytest.mark.parametrize(
    ("allow_fence", "text", "passed", "source"),
    [
        (False, '{"a": 1}', True, "the whole output"),
        (False, "  [1, 2, 3]\n", True, "the whole output"),
        (False, "42", True, "the whole output"),
        (False, FENCED, False, None),
        (True, FENCED, True, "a fenced block"),
        (True, "```\n[1, 2]\n```", True, "a fenced block"),
        (False, EMBEDDED, False, None),
        (True, EMBEDDED, True, "the first {...} object"),
        (True, '{not json} then {"ok": true}', True, "the first {...} object"),
        (True, "no json at all", False, None),
        (False, "{'single': 'quotes'}", False, None),
        (False, "[" * 100_000, False, None),
    ],
)
def test_json_valid(run, allow_fence, text, passed, source):
    score = run("json_valid", text, allow_fence=allow_fence)
    assert score.passed is passed and score.error is None
    if passed:
        assert score.details["source"] == source and source in score.explanation
    else:
        assert "not valid JSON" in score.explanation


TICKET = {
    "type": "object",
    "required": ["title", "priority"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "priority": {"enum": ["low", "medium", "high", "urgent"]},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("text", "passed", "explanation"),
    [
        (
            '{"title": "Login broken", "priority": "high"}',
            True,
            "valid against the schema (the whole output)",
        ),
        (
            '{"title": "x", "priority": "critical"}',
            False,
            "$.priority: 'critical' is not one of ['low', 'medium', 'high', 'urgent']",
        ),
        (
            '{"title": "x", "priority": "low", "tags": ["a", 3]}',
            False,
            "$.tags[1]: 3 is not of type 'string'",
        ),
        ('{"priority": "low"}', False, "$: 'title' is a required property"),
        ("not json", False, "not valid JSON (Expecting value at line 1 column 1)"),
    ],
)
def test_json_schema_inline(run, text, passed, explanation):
    score = run("json_schema", text, schema=TICKET)
    assert score.passed is passed
    assert score.explanation == explanation


def test_json_schema_reports_every_error(run):
    score = run("json_schema", '{"title": "", "priority": "nope", "extra": 1}', schema=TICKET)
    assert score.explanation.endswith("(+2 more)")
    assert len(score.details["errors"]) == 3


def test_json_schema_from_files(run, tmp_path):
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "ticket.json").write_text(json.dumps(TICKET))
    (tmp_path / "ticket.yaml").write_text("type: object\nrequired: [title]\n")
    ok = run(
        "json_schema",
        '```json\n{"title": "t", "priority": "low"}\n```',
        schema="schemas/ticket.json",
        allow_fence=True,
        suite_dir=tmp_path,
    )
    assert ok.passed is True and "a fenced block" in ok.explanation
    assert run("json_schema", "{}", schema="ticket.yaml", suite_dir=tmp_path).passed is False


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ("../outside.json", "outside the suite folder"),
        ("/etc/passwd", "outside the suite folder"),
        ("missing.json", "not found"),
        ({"type": "objekt"}, r"invalid JSON schema at \$.type: 'objekt' is not valid"),
        ({"properties": {"a": {"minLength": -1}}}, r"invalid JSON schema at \$.properties.a.minLength"),
        (["not", "a", "schema"], "inline mapping or a file path"),
        ("broken.json", "cannot be read"),
    ],
)
def test_json_schema_config_errors(run, tmp_path, schema, message):
    suite = tmp_path / "suite"
    suite.mkdir()
    (tmp_path / "outside.json").write_text("{}")
    (suite / "broken.json").write_text("{nope")
    with pytest.raises(ConfigError, match=message):
        run("json_schema", "{}", schema=schema, suite_dir=suite)


TARGET = {"name": "Ada Lovelace", "year": 1815, "alive": False, "tags": ["math", "computing"]}


@pytest.mark.parametrize(
    ("options", "text", "value", "fields"),
    [
        ({}, json.dumps(TARGET), 1.0, {"name": True, "year": True, "alive": True, "tags": True}),
        (
            {},
            '{"name": "ada lovelace ", "year": 1815.0, "alive": false, "tags": ["Math", "computing"]}',
            1.0,
            {"name": True, "year": True, "alive": True, "tags": True},
        ),
        (
            {"ignore_case": False},
            '{"name": "ada lovelace", "year": 1815, "alive": false, "tags": []}',
            0.5,
            {"name": False, "year": True, "alive": True, "tags": False},
        ),
        (
            {},
            '{"name": "Ada Lovelace", "year": 1816, "alive": 0}',
            0.25,
            {"name": True, "year": False, "alive": False, "tags": False},
        ),
        (
            {"fields": ["name", "year"]},
            '{"name": "Ada Lovelace", "year": 1815, "alive": true}',
            1.0,
            {"name": True, "year": True},
        ),
        ({}, "[1, 2]", 0.0, {"name": False, "year": False, "alive": False, "tags": False}),
        ({}, "not json", 0.0, {"name": False, "year": False, "alive": False, "tags": False}),
        (
            {"allow_fence": True, "fields": ["year"]},
            'Answer:\n```json\n{"year": 1815}\n```',
            1.0,
            {"year": True},
        ),
    ],
)
def test_json_match(run, options, text, value, fields):
    score = run("json_match", text, TARGET, **options)
    assert score.value == pytest.approx(value)
    assert score.passed is (value == 1.0)
    assert score.details["fields"] == fields


def test_json_match_explanations(run):
    score = run(
        "json_match", '{"name": "Ada Lovelace", "year": 1816}', TARGET, fields=["name", "year", "alive"]
    )
    assert (
        score.explanation
        == "1/3 fields match; year: expected 1815, got 1816; alive: expected False, got missing"
    )
    assert "not valid JSON" in run("json_match", "oops", TARGET).explanation
    assert "not an object" in run("json_match", "[1]", TARGET).explanation


def test_json_match_nested_fields_and_target_problems(run):
    target = {"user": {"id": 7, "roles": ["admin"]}}
    score = run(
        "json_match", '{"user": {"id": 7, "roles": ["user"]}}', target, fields=["user.id", "user.roles.0"]
    )
    assert score.details["fields"] == {"user.id": True, "user.roles.0": False}
    assert run("json_match", "{}", '{"a": 1}').details["fields"] == {"a": False}  # JSON-string target
    assert run("json_match", "{}", "plain text").error
    assert run("json_match", "{}", {"a": 1}, fields=["b"]).error
    with pytest.raises(ConfigError, match="fields"):
        run("json_match", "{}", {"a": 1}, fields=[])
