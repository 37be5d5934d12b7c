"""lm-eval suite results from the cache: a warm run writes what the cold one did; changed inputs miss."""

from __future__ import annotations

import json

import pytest
from lmeval_support import MC_ROWS, write_task_suite

from evalkit.cache import GenerationCache
from evalkit.lmeval import result_cache
from evalkit.lmeval import runner as lm_runner
from evalkit.models.hf_loading import BasePool
from evalkit.models.loader import load_model
from evalkit.models.spec import ModelSpec
from evalkit.runner.run import run_suite
from evalkit.suite.loader import load_suite

# What names a run rather than its results: refreshed on a hit, everything else must be equal.
RUN_FIELDS = {"timings", "finished", "generation"}


@pytest.fixture()
def cache(tmp_path):
    opened = GenerationCache(tmp_path / "cache.sqlite")
    yield opened
    opened.close()


@pytest.fixture()
def evaluations(monkeypatch):
    """Counts lm-eval evaluations (each is a recompute)."""
    calls = []
    real = lm_runner._evaluate

    def counted(*args, **kwargs):
        calls.append(args[1].name)
        return real(*args, **kwargs)

    monkeypatch.setattr(lm_runner, "_evaluate", counted)
    return calls


def _arm(model_dir, **spec):
    return load_model(ModelSpec(base=str(model_dir), chat_template="none", **spec), pool=BasePool())


def _files(folder):
    return {name: (folder / name).read_bytes() for name in ("generations.jsonl", "scores.jsonl")}


def test_warm_run_writes_the_cold_runs_results_without_evaluating(tiny_model_dir, mc_suite, tmp_path, cache,
                                                                   evaluations, isolated_home):
    suite = load_suite(str(mc_suite))
    cold = run_suite(_arm(tiny_model_dir, name="tiny"), suite, tmp_path / "cold", cache=cache)
    assert evaluations == ["tiny-mc"] and cold.cached == 0
    assert cache.stats().tables["lmeval_results"] == 1
    warm_arm = _arm(tiny_model_dir, name="tiny")
    warm = run_suite(warm_arm, suite, tmp_path / "warm", cache=cache)
    assert evaluations == ["tiny-mc"], "the warm run evaluated again"
    assert warm.cached == 6 and warm.generated == 0
    assert warm_arm.backend._loaded is None, "the warm run loaded the model"
    assert _files(tmp_path / "warm") == _files(tmp_path / "cold")
    cold_doc = json.loads((tmp_path / "cold" / "metrics.json").read_text())
    warm_doc = json.loads((tmp_path / "warm" / "metrics.json").read_text())
    assert {k: v for k, v in warm_doc.items() if k not in RUN_FIELDS} == \
        {k: v for k, v in cold_doc.items() if k not in RUN_FIELDS}
    assert warm_doc["generation"] == {**cold_doc["generation"], "cached": 6}
    assert warm.metrics == warm_doc and warm.primary == cold.primary
    assert json.loads((tmp_path / "warm" / "run.json").read_text()) == \
        json.loads((tmp_path / "cold" / "run.json").read_text())


def test_edited_data_file_misses(tiny_model_dir, mc_suite, tmp_path, cache, evaluations, isolated_home):
    arm = _arm(tiny_model_dir)
    run_suite(arm, load_suite(str(mc_suite)), tmp_path / "a", cache=cache)
    data = mc_suite / "tiny_mc.jsonl"
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    rows[0]["choices"] = ["Lyon", "Rome", "Oslo"]  # same ids, other content
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    edited = run_suite(arm, load_suite(str(mc_suite)), tmp_path / "b", cache=cache)
    assert evaluations == ["tiny-mc", "tiny-mc"] and edited.cached == 0
    first = json.loads((tmp_path / "b" / "generations.jsonl").read_text().splitlines()[0])
    assert first["choices"] == ["Lyon", "Rome", "Oslo"]
    assert cache.stats().tables["lmeval_results"] == 2


def test_changed_fingerprint_misses(tiny_model_dir, mc_suite, tmp_path, cache, evaluations, isolated_home,
                                    lora_factory):
    suite = load_suite(str(mc_suite))
    base = _arm(tiny_model_dir)
    run_suite(base, suite, tmp_path / "a", cache=cache)
    tuned = _arm(tiny_model_dir, adapter=str(lora_factory(tiny_model_dir, tmp_path / "lora")))
    assert tuned.fingerprint != base.fingerprint
    run_suite(tuned, suite, tmp_path / "b", cache=cache)
    assert evaluations == ["tiny-mc", "tiny-mc"]
    prompted = _arm(tiny_model_dir, system_prompt="Answer briefly.")
    run_suite(prompted, suite, tmp_path / "c", cache=cache)
    assert len(evaluations) == 3


def test_limit_and_lm_eval_version_are_in_the_key(tiny_model_dir, mc_suite, monkeypatch, isolated_home):
    arm = _arm(tiny_model_dir)
    key = result_cache.result_key(arm, load_suite(str(mc_suite)))
    assert key is not None
    assert result_cache.result_key(arm, load_suite(str(mc_suite), limit=3)) != key
    versions = {**result_cache.package_versions(), "lm_eval": "0.0.1"}
    monkeypatch.setattr(result_cache, "package_versions", lambda: versions)
    assert result_cache.result_key(arm, load_suite(str(mc_suite))) != key


def test_tasks_outside_the_suite_folder_are_never_cached(tmp_path):
    folder = write_task_suite(tmp_path / "s", "tiny_mc", "multiple_choice", MC_ROWS)
    assert result_cache.tasks_are_local(folder, ["tiny_mc"])
    assert not result_cache.tasks_are_local(folder, ["tiny_mc", "arc_easy"])  # lm-eval's own catalogue
    task = folder / "tiny_mc.yaml"
    task.write_text(task.read_text().replace("dataset_path: json", "dataset_path: allenai/ai2_arc"))
    assert not result_cache.tasks_are_local(folder, ["tiny_mc"])  # a hub dataset: its data is not hashed


def test_no_cache_neither_reads_nor_writes(tiny_model_dir, mc_suite, tmp_path, cache, evaluations,
                                           isolated_home):
    suite = load_suite(str(mc_suite))
    run_suite(_arm(tiny_model_dir), suite, tmp_path / "a", cache=None)
    assert cache.stats().tables["lmeval_results"] == 0
    run_suite(_arm(tiny_model_dir), suite, tmp_path / "b", cache=cache)
    run_suite(_arm(tiny_model_dir), suite, tmp_path / "c", cache=None)
    assert len(evaluations) == 3


def test_cache_commands_count_and_clear_lm_eval_results(isolated_home):
    from typer.testing import CliRunner

    from evalkit.api import open_cache
    from evalkit.cli import app
    from evalkit.types import Generation

    cache = open_cache()
    cache.put_many("fp1", [("g1", Generation(sample_id="a", text="x"))])
    cache.put_values("lmeval_results", "fp1", [("l1", {"run": {}}), ("l2", {"run": {}})])
    cache.put_values("renders", "fp1", [("r1", {"text": "t", "tokens": 1})])
    cache.close()
    runner = CliRunner()
    stats = runner.invoke(app, ["cache", "stats"])
    assert stats.exit_code == 0 and "1 generations" in stats.output
    assert "1 rendered prompts" in stats.output and "2 lm-eval suite results" in stats.output
    cleared = runner.invoke(app, ["cache", "clear", "--only", "lm-eval"])
    assert cleared.exit_code == 0 and "removed 2 cache entries" in cleared.output
    assert open_cache().stats().tables == {"generations": 1, "renders": 1, "lmeval_results": 0, "scores": 0}
    bad = runner.invoke(app, ["cache", "clear", "--only", "weights"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    assert runner.invoke(app, ["cache", "clear"]).exit_code == 0
    assert open_cache().stats().tables == {"generations": 0, "renders": 0, "lmeval_results": 0, "scores": 0}
