"""The score cache: a hit returns the same scores without scoring; whatever a score depends on misses."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from evalkit.cache import GenerationCache
from evalkit.runner.scoring import score_samples
from evalkit.scorers import ifeval as ifeval_module
from evalkit.scorers.registry import build_scorer
from evalkit.suite.loader import load_suite
from evalkit.types import Generation

OUTPUTS = {"lower": "a cat is a small pet.", "words": "The sea is blue.", "letter": "Rain runs over roofs"}


@pytest.fixture()
def cache(tmp_path):
    opened = GenerationCache(tmp_path / "cache.sqlite")
    yield opened
    opened.close()


def _generations(outputs=OUTPUTS):
    return {sid: Generation(sample_id=sid, text=text) for sid, text in outputs.items()}


def _counting(fn, calls):
    """``fn`` with its cache identity, recording which samples it is asked to score."""

    def score(sample, generation):
        calls.append(sample.id)
        return fn(sample, generation)

    score.cache_identity = fn.cache_identity
    return score


def _suite(folder, calls, **options):
    suite = load_suite(str(folder))
    suite.scorers["ifeval"] = _counting(build_scorer("ifeval", options), calls)
    return suite


def test_a_hit_returns_identical_scores_and_scores_nothing(ifeval_suite, cache):
    calls: list[str] = []
    suite = _suite(ifeval_suite, calls)
    cold = score_samples(suite, _generations(), cache=cache)
    assert sorted(calls) == sorted(OUTPUTS)
    assert cache.stats().tables["scores"] == 3
    assert {r["sample_id"]: r["passed"] for r in cold} == {"lower": True, "words": True, "letter": False}
    calls.clear()
    warm = score_samples(suite, _generations(), cache=cache)
    assert calls == []
    assert warm == cold


def test_a_changed_output_or_sample_misses_only_there(ifeval_suite, cache):
    calls: list[str] = []
    suite = _suite(ifeval_suite, calls)
    score_samples(suite, _generations(), cache=cache)
    calls.clear()
    changed = score_samples(suite, _generations({**OUTPUTS, "lower": "A CAT IS A PET."}), cache=cache)
    assert calls == ["lower"]
    assert next(r for r in changed if r["sample_id"] == "lower")["passed"] is False
    calls.clear()
    words = next(i for i, s in enumerate(suite.samples) if s.id == "words")
    sample = suite.samples[words]
    kwargs = [{"relation": "less than", "num_words": 3}]
    suite.samples[words] = replace(sample, metadata={**sample.metadata, "kwargs": kwargs})
    rows = score_samples(suite, _generations({**OUTPUTS, "lower": "A CAT IS A PET."}), cache=cache)
    assert calls == ["words"]
    assert next(r for r in rows if r["sample_id"] == "words")["passed"] is False


def test_the_scorer_config_and_library_versions_are_in_the_key(ifeval_suite, cache, monkeypatch):
    calls: list[str] = []
    score_samples(_suite(ifeval_suite, calls), _generations(), cache=cache)
    calls.clear()
    score_samples(_suite(ifeval_suite, calls, strict=False), _generations(), cache=cache)
    assert sorted(calls) == sorted(OUTPUTS)
    calls.clear()
    real = ifeval_module.installed_versions
    monkeypatch.setattr(ifeval_module, "installed_versions",
                        lambda names: {**real(names), "lm_eval": "0.0.0-other"})
    score_samples(_suite(ifeval_suite, calls), _generations(), cache=cache)
    assert sorted(calls) == sorted(OUTPUTS)
    calls.clear()
    monkeypatch.setattr(ifeval_module, "IFEVAL_SCORER_VERSION", ifeval_module.IFEVAL_SCORER_VERSION + 1)
    score_samples(_suite(ifeval_suite, calls), _generations(), cache=cache)
    assert sorted(calls) == sorted(OUTPUTS)


def test_scorers_without_identity_and_failed_scores_are_not_cached(small_suite, ifeval_suite, cache):
    suite = load_suite(str(small_suite))
    score_samples(suite, {s.id: Generation(sample_id=s.id, text="4") for s in suite.samples}, cache=cache)
    assert cache.stats().tables["scores"] == 0
    calls: list[str] = []
    suite = _suite(ifeval_suite, calls)
    index = next(i for i, s in enumerate(suite.samples) if s.id == "lower")
    bad = {**suite.samples[index].metadata, "instruction_id_list": ["no:such_instruction"]}
    suite.samples[index] = replace(suite.samples[index], metadata=bad)
    failed = {"words": Generation(sample_id="words", text="", error="server down")}
    rows = score_samples(suite, {**_generations(), **failed}, cache=cache)
    assert {r["sample_id"]: r["error"] is not None for r in rows} == {"lower": True, "words": True,
                                                                        "letter": False}
    assert cache.stats().tables["scores"] == 1
    assert "words" not in calls  # a failed generation is never scored


def test_the_same_output_scores_the_same_every_time(ifeval_suite):
    """IFEval checks run seeded, so a cached score is the one a recompute gives."""
    suite = load_suite(str(ifeval_suite))
    letter = next(s for s in suite.samples if s.id == "letter")
    random_letter = replace(letter, metadata={**letter.metadata, "kwargs": [
        {"letter": "!", "let_frequency": 2, "let_relation": "at least"}, {}]})
    fn = build_scorer("ifeval", {})
    generation = Generation(sample_id="letter", text="rain runs over roofs, ever and ever")
    scores = {repr(fn(random_letter, generation)) for _ in range(5)}
    assert len(scores) == 1


def test_building_the_ifeval_scorer_imports_no_lm_eval():
    code = ("import sys; from evalkit.scorers.registry import build_scorer; build_scorer('ifeval', {}); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lm_eval', 'nltk', 'torch')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_cache_clear_only_scores(isolated_home):
    from typer.testing import CliRunner

    from evalkit.api import open_cache
    from evalkit.cli import app

    cache = open_cache()
    cache.put_many("fp1", [("g1", Generation(sample_id="a", text="x"))])
    cache.put_values("scores", "ifeval", [("s1", {"value": 1.0}), ("s2", {"value": 0.0})])
    cache.close()
    runner = CliRunner()
    assert "2 cached scores" in runner.invoke(app, ["cache", "stats"]).output
    cleared = runner.invoke(app, ["cache", "clear", "--only", "scores"])
    assert cleared.exit_code == 0 and "removed 2 cache entries" in cleared.output
    assert open_cache().stats().tables == {"generations": 1, "renders": 0, "lmeval_results": 0, "scores": 0}
