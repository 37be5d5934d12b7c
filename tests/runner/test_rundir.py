"""The run folder both engines share: resume, redo or refuse an earlier run; the same header and metrics."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from evalkit.errors import EvalkitError
from evalkit.runner.rundir import RESULT_FILES, metrics_document, resumable
from evalkit.types import SCHEMA_VERSION

SIGNATURE = {"name": "s", "version": 1, "data_sha256": "abc"}
ARM = SimpleNamespace(fingerprint="f" * 64)


def _folder(tmp_path, *, fingerprint=ARM.fingerprint, signature=SIGNATURE, schema=SCHEMA_VERSION):
    out = tmp_path / "run"
    out.mkdir()
    header = {"schema_version": schema, "suite": signature, "arm": {"name": "a", "fingerprint": fingerprint}}
    (out / "run.json").write_text(json.dumps(header), encoding="utf-8")
    for name in RESULT_FILES:
        (out / name).write_text("{}\n", encoding="utf-8")
    return out


def test_an_empty_folder_has_nothing_to_resume(tmp_path):
    assert resumable(tmp_path, ARM, SIGNATURE, resume=True) is False


def test_the_same_run_resumes_and_fresh_deletes_its_results(tmp_path):
    out = _folder(tmp_path)
    assert resumable(out, ARM, SIGNATURE, resume=True) is True
    assert all((out / name).exists() for name in RESULT_FILES)
    assert resumable(out, ARM, SIGNATURE, resume=False) is False
    assert not any((out / name).exists() for name in RESULT_FILES)


@pytest.mark.parametrize("resume", [True, False])
def test_a_run_of_another_model_or_suite_version_is_refused(tmp_path, resume):
    out = _folder(tmp_path, fingerprint="0" * 64)
    with pytest.raises(EvalkitError, match="already holds a run of a different model or suite version"):
        resumable(out, ARM, SIGNATURE, resume=resume)
    assert all((out / name).exists() for name in RESULT_FILES)


def test_another_evalkits_run_is_refused_with_resume_and_redone_with_fresh(tmp_path):
    out = _folder(tmp_path, schema=SCHEMA_VERSION + 1)
    with pytest.raises(EvalkitError, match="--fresh"):
        resumable(out, ARM, SIGNATURE, resume=True)
    assert resumable(out, ARM, SIGNATURE, resume=False) is False
    assert not (out / "metrics.json").exists()


def test_metrics_document_counts_generations_and_keeps_engine_sections_in_order():
    header = {"suite": SIGNATURE, "arm": {"fingerprint": ARM.fingerprint, "name": "a"}}
    suite = SimpleNamespace(spec=SimpleNamespace(primary_metric="acc"))
    rows = [
        {"new_tokens": 3, "prompt_tokens": 10, "error": None, "cached": True},
        {"new_tokens": 0, "prompt_tokens": 12, "error": "HTTP 500", "cached": False},
    ]
    doc = metrics_document(header, suite, {"acc": {}}, n_samples=2, generations=rows,
                           timings={"generate_s": 1.0}, samples_per_item=1, extra={"warnings": []})
    assert doc["generation"] == {"new_tokens": 3, "prompt_tokens": 22, "errors": 1, "cached": 1}
    assert (doc["n_samples"], doc["n_generated"], doc["fingerprint"]) == (2, 2, ARM.fingerprint)
    assert list(doc) == [
        "schema_version", "suite", "arm", "fingerprint", "primary_metric", "samples_per_item", "metrics",
        "n_samples", "n_generated", "generation", "timings", "warnings", "versions", "finished",
    ]
