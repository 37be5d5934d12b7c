"""comparison.json's models: the committed JSON Schema, the demo and a version-1 file, bad files refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

import evalkit
from evalkit.compare import schema
from evalkit.compare.history import history_rows
from evalkit.compare.orchestrate import write_outputs
from evalkit.compare.schema import COMPARISON_SCHEMA_VERSION, Comparison, Verdict, read_comparison
from evalkit.errors import DataError
from evalkit.report.junit import junit_xml
from evalkit.report.markdown import render_markdown_summary

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "reports" / "demo" / "comparison.json"
SCHEMA_FILE = ROOT / "evalkit" / "compare" / "comparison.schema.json"
# reports/demo/comparison.json as the last version-1 writer left it (never regenerate this copy).
V1 = Path(__file__).parent / "fixtures" / "comparison_v1.json"


def _v1() -> dict:
    return json.loads(V1.read_text(encoding="utf-8"))


def test_committed_json_schema_is_the_generated_one():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema.schema_text(), (
        "evalkit/compare/comparison.schema.json is stale: run `make comparison-schema`")


def test_demo_comparison_validates_as_written_and_round_trips():
    data = json.loads(DEMO.read_text(encoding="utf-8"))
    typed = schema.validate_written(data)  # strict: no key the models do not know
    assert typed.schema_version == COMPARISON_SCHEMA_VERSION
    assert {d.verdict for s in typed.suites for d in s.deltas} <= set(Verdict)
    assert typed.to_doc() == {**data, "schema_version": COMPARISON_SCHEMA_VERSION}


def test_written_documents_refuse_unknown_keys_and_wrong_types():
    data = _v1()
    data["suites"][0]["deltas"][0]["surprise"] = 1
    with pytest.raises(ValidationError, match="surprise"):
        schema.validate_written(data)
    data = _v1()
    data["suites"][0]["deltas"][0]["verdict"] = "better"
    with pytest.raises(ValidationError, match="verdict"):
        schema.validate_written(data)


def test_write_outputs_writes_the_current_version_and_nothing_when_the_shape_is_wrong(tmp_path):
    written = write_outputs(_v1(), tmp_path / "ok")
    on_disk = json.loads((tmp_path / "ok" / "comparison.json").read_text(encoding="utf-8"))
    assert on_disk["schema_version"] == COMPARISON_SCHEMA_VERSION == written.schema_version
    assert on_disk == {**_v1(), "schema_version": COMPARISON_SCHEMA_VERSION}
    bad = _v1()
    bad["gate"]["rules"][0]["passed"] = "perhaps"
    with pytest.raises(ValidationError):
        write_outputs(bad, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_a_version_1_file_still_loads_and_renders(tmp_path):
    raw = _v1()
    assert raw["schema_version"] == 1
    (tmp_path / "comparison.json").write_text(json.dumps(raw), encoding="utf-8")
    cmp = evalkit.load_comparison(tmp_path)
    assert cmp.schema_version == 1 and cmp.data == raw
    first, typed = raw["suites"][0]["deltas"][0], cmp.suites[0].deltas[0]
    assert typed.delta == first["delta"] and typed.verdict == first["verdict"]
    frame = cmp.suites_frame()
    skipped = [s for s in raw["suites"] if s["skipped"]]
    assert skipped and len(frame) == sum(len(s["deltas"]) for s in raw["suites"]) + 2 * len(skipped)
    judged = frame[frame["skipped"].isna()]
    assert list(judged["verdict"]) == [d["verdict"] for s in raw["suites"] for d in s["deltas"]]
    assert len(cmp.flips_frame()) == len(raw["flips"])
    # Rendered from the typed file, the summary and JUnit equal what the raw dict gives.
    assert render_markdown_summary(cmp) == render_markdown_summary(raw)
    assert junit_xml(cmp) == junit_xml(raw)
    assert cmp.gate is not None and cmp.gate.passed == raw["gate"]["passed"]
    written = write_outputs(cmp, tmp_path / "again")  # and it is rewritten as the current version
    assert written.schema_version == COMPARISON_SCHEMA_VERSION
    assert "support-triage" in (tmp_path / "again" / "index.html").read_text(encoding="utf-8")


def test_older_files_lacking_later_fields_and_carrying_dropped_ones_load():
    raw = _v1()
    for suite in raw["suites"]:
        suite.pop("secondary", None)
        for delta in suite["deltas"]:
            delta.pop("interval")
            delta.pop("holm_family", None)
    raw["prompt_only"][0]["dropped_resamples"] = 3  # a key an early writer wrote and later ones dropped
    cmp = read_comparison(raw, "old")
    assert cmp.suites[0].secondary == [] and cmp.suites[0].deltas[0].interval is None
    assert cmp.prompt_only[0].ratio == raw["prompt_only"][0]["ratio"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(schema_version=COMPARISON_SCHEMA_VERSION + 1), "written by a newer evalkit"),
        (lambda d: d.update(schema_version="one"), "unknown comparison schema_version 'one'"),
        (lambda d: d["suites"][1]["deltas"][0].update(verdict="better"), "suites.1.deltas.0.verdict"),
        (lambda d: d["suites"][0].update(scores=[1, 2]), "suites.0.scores"),
        (lambda d: d.pop("suites"), "not an evalkit comparison"),
    ],
)
def test_bad_files_are_clear_errors(tmp_path, change, message):
    data = _v1()
    change(data)
    path = tmp_path / "comparison.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(DataError) as info:
        evalkit.load_comparison(path)
    assert message in info.value.message and str(path) in info.value.message


def test_verdict_words_are_the_enum_values():
    assert [v.value for v in Verdict] == ["improved", "regressed", "no significant change",
                                          "inconclusive (underpowered)"]
    assert f"{Verdict.NO_CHANGE}" == "no significant change"
    assert json.dumps(Verdict.REGRESSED) == '"regressed"'


def test_item_access_reads_like_the_json_dict():
    raw = _v1()
    cmp = read_comparison(copy.deepcopy(raw))
    assert cmp["suites"][0]["deltas"][0]["arm"] == raw["suites"][0]["deltas"][0]["arm"]
    assert cmp.get("sequential") is None and cmp.get("merge_check", []) == []
    assert "gate" in cmp and "merge_check" not in cmp
    with pytest.raises(KeyError):
        cmp["nothing"]


def test_a_malformed_history_file_is_a_clear_error(tmp_path):
    path = tmp_path / "history.jsonl"
    rows = [{"date": "2026-11-01", "suite": "s", "arm": "a", "mean": 0.5},
            {"date": "2026-11-02", "suite": "s", "mean": "high"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(DataError, match="row 2 is not an evalkit history row"):
        history_rows(path)
    rows = [{"date": "2026-11-02", "suite": "s", "arm": "a", "mean": 0.7, "extra": 1},
            {"date": "2026-11-01", "suite": "s", "arm": "a", "mean": 0.5}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert [r.mean for r in history_rows(path)] == [0.5, 0.7]


def test_schema_module_imports_nothing_heavy():
    import subprocess
    import sys

    heavy = "{'torch', 'transformers', 'pandas', 'numpy'}"
    code = f"import sys, evalkit.compare.schema; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "[]"


def test_typed_comparison_is_the_public_model():
    loaded = evalkit.load_comparison(DEMO)
    assert isinstance(loaded, evalkit.Comparison) and isinstance(loaded, Comparison)
    assert evalkit.Verdict is Verdict
