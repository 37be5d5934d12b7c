"""Per-draw values read back from run directories and baselines (``SampleResult.draws``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.compare.baseline import baseline_runs, build_baseline, load_baseline, save_baseline
from evalkit.compare.rundata import load_run_dir
from evalkit.errors import DataError
from evalkit.runner.store import write_json_atomic, write_jsonl_atomic
from evalkit.types import SCHEMA_VERSION

SUITE = {"name": "s", "version": "1", "data_sha256": "d" * 64, "scorers": [], "prompt_template": None}
ARM = {"name": "m", "fingerprint": "f" * 64, "fingerprint_parts": {}, "spec": {}}
# sample -> per-draw (value, passed, error)
DRAWS = {
    "all": [(1.0, True, None), (1.0, True, None), (1.0, True, None)],
    "none": [(0.0, False, None), (0.0, False, None), (0.0, False, None)],
    "mixed": [(1.0, True, None), (0.0, False, None), (1.0, True, None)],
    "one-failed": [(1.0, True, None), (None, None, "generation failed: timeout"), (1.0, True, None)],
    "all-failed": [(None, None, "generation failed: timeout")] * 3,
}


def _write_run(out: Path, draws: dict, k: int, *, with_draw_field: bool = True) -> Path:
    gens, scores = [], []
    for sid, per_draw in draws.items():
        for d, (value, passed, error) in enumerate(per_draw):
            draw = {"draw": d} if with_draw_field else {}
            gens.append({"sample_id": sid, "text": f"{sid}-{d}", "error": error and "timeout", **draw})
            scores.append({"sample_id": sid, **draw, "scorer": "em", "value": value, "passed": passed,
                           "explanation": "", "error": error, "details": None})
    metrics = {"schema_version": SCHEMA_VERSION, "suite": SUITE, "arm": ARM, "primary_metric": "em",
               "metrics": {"em": {"binary": k == 1}}}
    if with_draw_field:  # older runs recorded neither
        metrics["samples_per_item"] = metrics["metrics"]["em"]["samples_per_item"] = k
    write_json_atomic(out / "metrics.json", metrics)
    header = {"schema_version": SCHEMA_VERSION, "suite": SUITE, "arm": ARM, "samples_per_item": k}
    write_json_atomic(out / "run.json", header)
    write_jsonl_atomic(out / "generations.jsonl", gens)
    write_jsonl_atomic(out / "scores.jsonl", scores)
    return out


def test_draws_value_and_passed(tmp_path):
    run = load_run_dir(_write_run(tmp_path / "run", DRAWS, 3))
    assert run.samples_per_item == 3
    got = {sid: (s.draws, s.value, s.passed, s.error) for sid, s in run.samples.items()}
    assert got["all"] == ([1.0, 1.0, 1.0], 1.0, True, None)
    assert got["none"] == ([0.0, 0.0, 0.0], 0.0, False, None)
    assert got["mixed"][0] == [1.0, 0.0, 1.0] and got["mixed"][1] == pytest.approx(2 / 3)
    assert got["mixed"][2] is None
    # a failed draw is left out of the item's draws; the item stands on the draws it has
    assert got["one-failed"] == ([1.0, 1.0], 1.0, True, None)
    assert got["all-failed"][:3] == (None, None, None) and "timeout" in got["all-failed"][3]
    assert run.samples["mixed"].text == "mixed-0"


def test_draw_order_follows_the_draw_index_not_the_file(tmp_path):
    out = _write_run(tmp_path / "run", {"x": [(0.0, False, None), (0.5, None, None), (1.0, True, None)]}, 3)
    rows = (out / "scores.jsonl").read_text().splitlines()
    (out / "scores.jsonl").write_text("\n".join(reversed(rows)) + "\n")  # a resumed run appends out of order
    assert load_run_dir(out).samples["x"].draws == [0.0, 0.5, 1.0]


def test_single_draw_runs_read_as_before(tmp_path):
    old = {sid: per_draw[:1] for sid, per_draw in DRAWS.items()}
    run = load_run_dir(_write_run(tmp_path / "run", old, 1, with_draw_field=False))
    assert run.samples_per_item == 1
    assert all(s.draws is None for s in run.samples.values())
    assert (run.samples["mixed"].value, run.samples["mixed"].passed) == (1.0, True)
    assert run.samples["all-failed"].error == "generation failed: timeout"


def test_baselines_keep_draws_and_old_baselines_still_load(tmp_path):
    run_dir = _write_run(tmp_path / "run", DRAWS, 3)
    path = save_baseline(run_dir, "b", directory=tmp_path / "baselines")
    doc = load_baseline(path)
    entry = doc["suites"]["s"]
    assert entry["samples_per_item"] == 3 and entry["samples"]["mixed"] == [pytest.approx(2 / 3), None]
    assert entry["draws"]["mixed"] == [1.0, 0.0, 1.0] and "all-failed" not in entry["draws"]
    current = {"s": load_run_dir(run_dir)}
    [ref] = baseline_runs(doc, current, allow_mismatch=False, source=str(path)).values()
    assert ref.samples_per_item == 3 and ref.samples["mixed"].draws == [1.0, 0.0, 1.0]
    assert ref.samples["one-failed"].draws == [1.0, 1.0]

    old = build_baseline("old", [_write_run(tmp_path / "old", {k: v[:1] for k, v in DRAWS.items()}, 1,
                                            with_draw_field=False)])
    assert "draws" not in old["suites"]["s"]
    del old["suites"]["s"]["samples_per_item"]  # as written before repeated draws existed
    (tmp_path / "old.json").write_text(json.dumps(old))
    [back] = baseline_runs(load_baseline(tmp_path / "old.json"), {"s": load_run_dir(tmp_path / "old")},
                           allow_mismatch=False, source="old.json").values()
    assert back.samples_per_item == 1 and all(s.draws is None for s in back.samples.values())


def test_corrupt_baseline_draws_are_a_clear_error(tmp_path):
    doc = build_baseline("b", [_write_run(tmp_path / "run", DRAWS, 3)])
    doc["suites"]["s"]["draws"]["mixed"] = [1.0, "high"]
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"suites\.s\.draws\.mixed must be a list of numbers"):
        load_baseline(tmp_path / "bad.json")
