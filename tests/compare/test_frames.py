"""`evalkit.load_comparison` / `evalkit.load_run` DataFrames, checked against a real comparison's files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

import evalkit
from evalkit.cli import app
from evalkit.errors import DataError
from evalkit.models.loader import load_model
from evalkit.models.spec import ModelSpec
from evalkit.runner.run import run_suite
from evalkit.runner.store import read_jsonl_tolerant
from evalkit.suite.loader import load_suite


def _suite(folder, rows, spec):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "suite.yaml").write_text(yaml.safe_dump({"data": "data.jsonl", **spec}))
    return folder


@pytest.fixture(scope="module")
def compared(tiny_model_dir, tmp_path_factory):
    """`evalkit compare` of three arms on two suites; the echo suite's targets are the reference's outputs."""
    tmp = tmp_path_factory.mktemp("frames")
    rows = [{"id": f"e{i:02d}", "input": f"item {i} says {i * 7 % 13}", "target": "",
             "metadata": {"category": f"c{i % 3}"}} for i in range(30)]
    echo_spec = {"name": "echo", "kind": "regression", "generation": {"max_new_tokens": 4},
                 "scorers": [{"name": "exact_match"}, {"name": "length", "options": {"max": 3}}],
                 "category_field": "category"}
    echo = _suite(tmp / "echo", rows, echo_spec)
    probe = run_suite(load_model(ModelSpec(name="ref", base=str(tiny_model_dir))), load_suite(str(echo)),
                      tmp / "probe", cache=None)
    outputs = {g["sample_id"]: g["text"] for g in read_jsonl_tolerant(probe.out_dir / "generations.jsonl")}
    _suite(echo, [{**r, "target": outputs[r["id"]]} for r in rows], echo_spec)
    sums_rows = [{"id": f"q{i}", "input": f"{i}+{i}=", "target": str(2 * i)} for i in range(8)]
    sums_spec = {"name": "sums", "kind": "task", "generation": {"max_new_tokens": 3},
                 "scorers": [{"name": "exact_match"}]}
    sums = _suite(tmp / "sums", sums_rows, sums_spec)
    specs = []
    plain = {"chat_template": "none", "intended_differences": ["chat_template"]}
    arms = (("base", {}), ("brief", {"system_prompt": "Be brief."}), ("plain", plain))
    for name, extra in arms:
        specs.append(tmp / f"{name}.yaml")
        specs[-1].write_text(yaml.safe_dump({"name": name, "base": str(tiny_model_dir), **extra}))
    out = tmp / "out"
    args = ["compare", *map(str, specs), "--suite", str(echo), "--suite", str(sums), "--out", str(out)]
    result = CliRunner().invoke(app, args, env={"EVALKIT_HOME": str(tmp / "home")})
    assert result.exit_code == 0, result.output
    return out, json.loads((out / "comparison.json").read_text())


def test_suites_frame_has_a_row_per_suite_and_candidate_matching_the_json(compared):
    out, data = compared
    frame = evalkit.load_comparison(out).suites_frame()
    assert len(frame) == 2 * 2 and set(frame["arm"]) == {"brief", "plain"}
    assert set(frame["reference"]) == {"base"}
    for suite in data["suites"]:
        for delta in suite["deltas"]:
            match = (frame["suite"] == suite["name"]) & (frame["arm"] == delta["arm"])
            [row] = frame[match].to_dict("records")
            assert row["kind"] == suite["kind"] and row["metric"] == suite["metric"]
            assert row["reference_score"] == suite["scores"]["base"]["mean"]
            assert row["candidate_score"] == suite["scores"][delta["arm"]]["mean"]
            for key in ("delta", "low", "high", "p_value", "p_holm", "verdict", "n"):
                assert row[key] == delta[key], key
            if "n_clusters" in frame:
                assert row["n_clusters"] == delta.get("n_clusters", suite.get("n_clusters"))


def test_samples_frame_has_a_row_per_sample_and_arm_matching_the_json(compared):
    out, data = compared
    frame = evalkit.load_comparison(out / "comparison.json").samples_frame()
    assert len(frame) == (30 + 8) * 3
    assert list(frame.columns) == ["suite", "sample_id", "arm", "value", "passed", "error", "text", "target",
                                   "input", "category"]
    indexed = frame.set_index(["suite", "sample_id", "arm"])
    for suite, samples in data["samples"].items():
        for sample in samples:
            for arm, output in sample["outputs"].items():
                row = indexed.loc[(suite, sample["id"], arm)]
                assert (row["value"], row["passed"], row["text"]) == (output["value"], output["passed"],
                                                                       output["text"])
                assert row["input"] == sample["input"] and row["category"] == sample["category"]
    echo = frame[(frame["suite"] == "echo") & (frame["arm"] == "base")]
    assert echo["passed"].all()  # the targets are the reference's own outputs


def test_flips_frame_matches_the_json_and_the_samples(compared):
    out, data = compared
    comparison = evalkit.load_comparison(out)
    flips, samples = comparison.flips_frame(), comparison.samples_frame()
    assert len(flips) == len(data["flips"]) > 0
    passed = samples.set_index(["suite", "sample_id", "arm"])["passed"]
    for flip in flips.to_dict("records"):
        reference = passed[(flip["suite"], flip["sample_id"], "base")]
        candidate = passed[(flip["suite"], flip["sample_id"], flip["arm"])]
        assert reference != candidate
        assert flip["direction"] == ("fail_to_pass" if candidate else "pass_to_fail")


def test_run_frame_has_a_row_per_sample_and_scorer_with_its_generation(compared):
    out, data = compared
    [run_dir] = (out / "runs").glob("brief-*/echo")
    frame = evalkit.load_run(run_dir).frame()
    scores = read_jsonl_tolerant(run_dir / "scores.jsonl")
    texts = {g["sample_id"]: g["text"] for g in read_jsonl_tolerant(run_dir / "generations.jsonl")}
    assert len(frame) == len(scores) == 30 * 2 and "draw" not in frame
    assert set(frame["scorer"]) == {"exact_match", "length"} and set(frame["arm"]) == {"brief"}
    indexed = frame.set_index(["sample_id", "scorer"])
    for score in scores:
        row = indexed.loc[(score["sample_id"], score["scorer"])]
        assert (row["value"], row["passed"]) == (score["value"], score["passed"])
        assert row["text"] == texts[score["sample_id"]]
    primary = frame[frame["scorer"] == "exact_match"].set_index("sample_id")["value"]
    in_comparison = {s["id"]: s["outputs"]["brief"]["value"] for s in data["samples"]["echo"]}
    assert primary.to_dict() == in_comparison


def test_run_frame_keeps_draws_apart(compared, tmp_path):
    out, _ = compared
    [source] = (out / "runs").glob("base-*/sums")
    run_dir = tmp_path / "drawn"
    shutil.copytree(source, run_dir)
    scores = read_jsonl_tolerant(run_dir / "scores.jsonl")
    gens = read_jsonl_tolerant(run_dir / "generations.jsonl")
    drawn_scores = [{**s, "draw": d, "value": float(d)} for s in scores for d in (0, 1)]
    # As the runner writes them: scores name every draw, a generation leaves out "draw" when it is 0.
    drawn_gens = [{**g, "text": f"{g['text']}#{d}", **({"draw": d} if d else {})}
                  for g in gens for d in (0, 1)]
    (run_dir / "scores.jsonl").write_text("".join(json.dumps(r) + "\n" for r in drawn_scores))
    (run_dir / "generations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in drawn_gens))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    (run_dir / "metrics.json").write_text(json.dumps({**metrics, "samples_per_item": 2}))
    frame = evalkit.load_run(run_dir).frame()
    assert len(frame) == 8 * 2 and list(frame.columns)[:5] == ["suite", "arm", "sample_id", "draw", "scorer"]
    assert all(row["text"].endswith(f"#{row['draw']}") and row["value"] == row["draw"]
               for row in frame.to_dict("records"))
    (run_dir / "metrics.json").write_text(json.dumps({**metrics, "samples_per_item": 1}))
    assert set(evalkit.load_run(run_dir).frame()["draw"]) == {0}  # draws beyond k are stale leftovers


def test_unknown_and_missing_fields_are_tolerated(compared, tmp_path):
    _, data = compared
    changed = json.loads(json.dumps(data))
    changed["future_field"] = {"x": 1}
    for suite in changed["suites"]:
        suite.pop("n_clusters", None)
        for delta in suite["deltas"]:
            delta.pop("n_clusters", None)
            delta.pop("p_holm")
            delta["agreement"] = "a new field"
    path = tmp_path / "comparison.json"
    path.write_text(json.dumps(changed))
    frame = evalkit.load_comparison(path).suites_frame()
    assert len(frame) == 4 and "n_clusters" not in frame and frame["p_holm"].isna().all()
    assert evalkit.load_comparison(path).data["future_field"] == {"x": 1}


def test_bad_paths_are_clear_errors(compared, tmp_path):
    out, _ = compared
    with pytest.raises(DataError, match="no comparison.json"):
        evalkit.load_comparison(tmp_path)
    (tmp_path / "other.json").write_text('{"kind": "something else"}')
    with pytest.raises(DataError, match="not an evalkit comparison"):
        evalkit.load_comparison(tmp_path / "other.json")
    with pytest.raises(DataError) as info:
        evalkit.load_run(out)
    assert "not a run folder" in info.value.message and "echo" in info.value.hint


def test_pandas_is_imported_only_when_a_frame_is_built():
    code = "import sys, evalkit; evalkit.load_comparison; print('pandas' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr[-2000:]
