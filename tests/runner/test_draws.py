"""Repeated draws per item (``--draws``, ``samples_per_item``): the tiny random Llama through the real CLI."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))

from relkit import assert_usage_error, invoke  # noqa: E402

from evalkit.compare.rundata import load_run_dir  # noqa: E402
from evalkit.models.draws import draw_seed  # noqa: E402
from evalkit.models.loader import load_model  # noqa: E402
from evalkit.models.spec import GenerationConfig, ModelSpec  # noqa: E402
from evalkit.runner.run import run_suite  # noqa: E402
from evalkit.runner.store import read_json, read_jsonl_tolerant  # noqa: E402
from evalkit.suite.loader import load_suite  # noqa: E402

K = 3


def _spec_file(folder: Path, tiny_model_dir: Path, **generation) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "base": str(tiny_model_dir),
                "batch_size": 4,
                "generation": {"max_new_tokens": 8, **generation},
            }
        )
    )
    return path


@pytest.fixture()
def sampled_spec(tmp_path, tiny_model_dir) -> Path:
    """A model spec at temperature 0.7 (a sampled arm)."""
    return _spec_file(tmp_path, tiny_model_dir, temperature=0.7, seed=11)


def _run_dir(out: Path) -> Path:
    [header] = list(out.rglob("run.json"))
    return header.parent


def _cli_run(spec: Path, suite: Path, out: Path, *extra) -> Path:
    code, output = invoke("run", spec, "--suite", suite, "--out", out, *extra)
    assert code == 0, output
    return _run_dir(out)


def _stable(rows: list[dict]) -> list[dict]:
    """Generation rows without what legitimately differs between runs (wall time, cache hits)."""
    drop = ("latency_s", "cached")
    return sorted(({k: v for k, v in r.items() if k not in drop} for r in rows),
                  key=lambda r: (r["sample_id"], r["draw"]))


def test_draws_through_the_cli(sampled_spec, small_suite, tmp_path, isolated_home):
    run_dir = _cli_run(sampled_spec, small_suite, tmp_path / "out", "--draws", str(K))
    gens = read_jsonl_tolerant(run_dir / "generations.jsonl")
    assert len(gens) == 12 * K
    by_sample: dict[str, dict[int, str]] = {}
    for row in gens:
        by_sample.setdefault(row["sample_id"], {})[row["draw"]] = row["text"]
    assert all(sorted(draws) == list(range(K)) for draws in by_sample.values()) and len(by_sample) == 12
    # a random model sampling at 0.7 almost never repeats 8 tokens: the draws really are different draws
    assert sum(len(set(d.values())) == K for d in by_sample.values()) >= 10

    scores = read_jsonl_tolerant(run_dir / "scores.jsonl")
    assert len(scores) == 2 * 12 * K and all("draw" in r for r in scores)
    metrics = read_json(run_dir / "metrics.json")
    assert metrics["samples_per_item"] == K and read_json(run_dir / "run.json")["samples_per_item"] == K
    for key in ("exact_match", "length"):
        item_means = []
        for sid in by_sample:
            values = [r["value"] for r in scores if r["scorer"] == key and r["sample_id"] == sid]
            assert len(values) == K
            item_means.append(sum(values) / K)
        entry = metrics["metrics"][key]
        assert entry["mean"] == pytest.approx(sum(item_means) / 12)
        assert entry["n"] == 12 and entry["samples_per_item"] == K and entry["binary"] is False

    run = load_run_dir(run_dir)
    assert run.samples_per_item == K
    for sid, result in run.samples.items():
        per_draw = [r["value"] for r in scores if r["scorer"] == "exact_match" and r["sample_id"] == sid]
        assert result.draws == per_draw and result.value == pytest.approx(sum(per_draw) / K)
        assert result.text == by_sample[sid][0]

    before = (run_dir / "scores.jsonl").read_bytes()  # re-scoring reads every draw back
    code, output = invoke("score", run_dir)
    assert code == 0, output
    assert (run_dir / "scores.jsonl").read_bytes() == before
    assert read_json(run_dir / "metrics.json")["metrics"] == metrics["metrics"]


def test_second_run_is_fully_cached_and_draw_zero_is_the_single_draw(
    sampled_spec, small_suite, tmp_path, isolated_home
):
    first = _cli_run(sampled_spec, small_suite, tmp_path / "a", "--draws", str(K))
    second = _cli_run(sampled_spec, small_suite, tmp_path / "b", "--draws", str(K))
    again = read_jsonl_tolerant(second / "generations.jsonl")
    assert all(r["cached"] for r in again) and len(again) == 12 * K
    assert _stable(again) == _stable(read_jsonl_tolerant(first / "generations.jsonl"))
    assert (first / "scores.jsonl").read_bytes() == (second / "scores.jsonl").read_bytes()

    # k = 1 at the same seed is draw 0 (from the cache), and its rows carry no draw field
    single = _cli_run(sampled_spec, small_suite, tmp_path / "c")
    rows = read_jsonl_tolerant(single / "generations.jsonl")
    assert all("draw" not in r for r in rows) and all(r["cached"] for r in rows)
    draw0 = {r["sample_id"]: r["text"] for r in again if r["draw"] == 0}
    assert {r["sample_id"]: r["text"] for r in rows} == draw0
    assert read_json(single / "metrics.json")["samples_per_item"] == 1


def test_killed_run_resumes_per_draw_to_identical_files(sampled_spec, small_suite, tmp_path, isolated_home):
    reference = _cli_run(sampled_spec, small_suite, tmp_path / "ref", "--draws", str(K), "--no-cache")
    out = tmp_path / "killed"
    shutil.copytree(tmp_path / "ref", out)
    run_dir = _run_dir(out)
    lines = (run_dir / "generations.jsonl").read_text().splitlines()
    # a kill after 10 of 36 (sample, draw) rows, mid-way through writing the 11th; scoring never ran
    (run_dir / "generations.jsonl").write_text("\n".join(lines[:10]) + "\n" + lines[10][:25])
    for name in ("scores.jsonl", "metrics.json"):
        (run_dir / name).unlink()
    _cli_run(sampled_spec, small_suite, out, "--draws", K, "--no-cache")
    resumed = read_jsonl_tolerant(run_dir / "generations.jsonl")
    assert len(resumed) == 12 * K
    assert resumed[:10] == [json.loads(line) for line in lines[:10]]  # finished draws were kept, not redone
    assert _stable(resumed) == _stable(read_jsonl_tolerant(reference / "generations.jsonl"))
    assert (run_dir / "scores.jsonl").read_bytes() == (reference / "scores.jsonl").read_bytes()
    ours, theirs = read_json(run_dir / "metrics.json"), read_json(reference / "metrics.json")
    assert ours["metrics"] == theirs["metrics"]


def test_draws_do_not_depend_on_the_batch_size(tiny_model_dir, small_suite, tmp_path, isolated_home):
    suite = load_suite(str(small_suite))
    texts = {}
    for batch in (1, 5):
        spec = ModelSpec(name=f"b{batch}", base=str(tiny_model_dir), batch_size=batch,
                         generation=GenerationConfig(max_new_tokens=8, temperature=0.7, samples_per_item=K))
        result = run_suite(load_model(spec), suite, tmp_path / f"b{batch}", cache=None)
        assert result.generated == 12 * K
        rows = read_jsonl_tolerant(tmp_path / f"b{batch}" / "generations.jsonl")
        texts[batch] = {(r["sample_id"], r["draw"]): r["text"] for r in rows}
    assert texts[1] == texts[5] and len(texts[1]) == 12 * K


def test_draw_seeds_are_stable_and_distinct():
    assert draw_seed(7, "q1", 0) == 7  # draw 0 is the k = 1 generation
    seeds = {draw_seed(7, sid, d) for sid in ("q1", "q2") for d in range(1, 4)}
    assert len(seeds) == 6 and all(0 <= s < 2**31 for s in seeds)
    assert draw_seed(7, "q1", 2) == draw_seed(7, "q1", 2) != draw_seed(8, "q1", 2)
    assert draw_seed(7, "q1", 1) == 1152482547  # pinned: changing the derivation silently changes every run


def test_draws_come_from_cli_then_suite_then_spec(tmp_path, tiny_model_dir, small_suite, isolated_home):
    spec = _spec_file(tmp_path, tiny_model_dir, temperature=0.7, samples_per_item=2)
    suite_yaml = small_suite / "suite.yaml"
    doc = yaml.safe_load(suite_yaml.read_text())
    counts = {}
    for label, suite_value, extra in (("spec", None, ()), ("suite", 4, ()), ("cli", 4, ("--draws", "3"))):
        if suite_value is not None:
            suite_yaml.write_text(yaml.safe_dump({**doc, "samples_per_item": suite_value}))
        run_dir = _cli_run(spec, small_suite, tmp_path / label, "--limit", "2", *extra)
        counts[label] = read_json(run_dir / "metrics.json")["samples_per_item"]
        assert len(read_jsonl_tolerant(run_dir / "generations.jsonl")) == 2 * counts[label]
    assert counts == {"spec": 2, "suite": 4, "cli": 3}


def test_greedy_with_draws_is_an_error(tmp_path, tiny_model_dir, small_suite, isolated_home):
    greedy = _spec_file(tmp_path, tiny_model_dir)
    code, output = invoke("run", greedy, "--suite", small_suite, "--out", tmp_path / "out", "--draws", "3")
    assert_usage_error(code, output, "--draws = 3", "greedy (temperature 0)", "would be identical")
    assert not list((tmp_path / "out").rglob("generations.jsonl"))


def test_compare_with_draws_checks_every_arm_first(tmp_path, tiny_model_dir, small_suite, isolated_home):
    sampled = _spec_file(tmp_path / "a", tiny_model_dir, temperature=0.7)
    greedy = _spec_file(tmp_path / "b", tiny_model_dir)
    code, output = invoke("compare", sampled, greedy, "--suite", small_suite, "--out", tmp_path / "cmp",
                          "--draws", "2")
    assert_usage_error(code, output, "--draws = 2", "greedy (temperature 0)")
    assert not list((tmp_path / "cmp").rglob("generations.jsonl"))  # not even the sampled arm ran


def test_compare_reads_draws_of_both_arms(tmp_path, tiny_model_dir, small_suite, isolated_home):
    ref = _spec_file(tmp_path / "ref", tiny_model_dir, temperature=0.7, seed=1)
    other = _spec_file(tmp_path / "other", tiny_model_dir, temperature=0.7, seed=2)
    declared = other.read_text().replace("name: tiny", "name: other") + "intended_differences: [seed]\n"
    other.write_text(declared)
    code, output = invoke("compare", ref, other, "--suite", small_suite, "--out", tmp_path / "cmp",
                          "--draws", "2", "--limit", "4")
    assert code == 0, output
    runs = sorted(p.parent for p in (tmp_path / "cmp" / "runs").rglob("run.json"))
    assert len(runs) == 2
    for run_dir in runs:
        run = load_run_dir(run_dir)
        assert run.samples_per_item == 2 and len(run.samples) == 4
        assert all(len(s.draws) == 2 for s in run.samples.values())
