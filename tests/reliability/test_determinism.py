"""Same spec, suite and seed give byte-identical generations and scores, greedy and sampled.

Each run gets a fresh run directory and no generation cache; on the tiny model
each also loads the model afresh (its own ``BasePool``). ``generations.jsonl`` is compared without its
``latency_s`` field (wall-clock time); ``scores.jsonl`` byte for byte. A
different seed must change sampled outputs, so the sampled check cannot pass
by sampling being silently off. Cross-process determinism of the tiny model is
covered by test_interrupt.py (a subprocess run resumed in process equals an
in-process run).
"""

from __future__ import annotations

import json

import pytest
from relkit import write_jsonl, write_yaml

from evalkit.models.hf_loading import BasePool
from evalkit.models.loader import load_model
from evalkit.models.spec import GenerationConfig, ModelSpec
from evalkit.runner.run import run_suite
from evalkit.suite.loader import load_suite

QUESTIONS = [
    "What is the capital of France?",
    "Name a primary colour.",
    "What is 7 times 8?",
    "Write one word that rhymes with cat.",
    "What do bees make?",
    "Translate 'hello' into Spanish.",
    "How many legs does a spider have?",
    "What is the opposite of hot?",
    "Name a planet in the solar system.",
    "What colour is the sky on a clear day?",
]


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    folder = tmp_path_factory.mktemp("det") / "suite"
    rows = [{"id": f"d{i}", "input": q, "target": "x"} for i, q in enumerate(QUESTIONS)]
    write_jsonl(folder / "data.jsonl", rows)
    write_yaml(
        folder / "suite.yaml",
        {
            "name": "det",
            "data": "data.jsonl",
            "generation": {"max_new_tokens": 8},
            "scorers": [{"name": "exact_match"}, {"name": "length", "options": {"max": 8}}],
        },
    )
    return load_suite(str(folder))


def _run(base, suite, out, pool=None, **generation) -> tuple[list[str], bytes, dict]:
    spec = ModelSpec(name="det", base=str(base), batch_size=5, generation=GenerationConfig(**generation))
    result = run_suite(load_model(spec, pool=pool or BasePool()), suite, out, cache=None, resume=False)
    rows = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    for row in rows:
        row.pop("latency_s")
    gens = [json.dumps(r, ensure_ascii=False) for r in rows]
    return gens, (out / "scores.jsonl").read_bytes(), result.metrics["metrics"]


def _check(base, suite, tmp_path, pool=None):
    greedy_a = _run(base, suite, tmp_path / "g1", pool)
    greedy_b = _run(base, suite, tmp_path / "g2", pool)
    assert greedy_a == greedy_b
    sampled_a = _run(base, suite, tmp_path / "s1", pool, temperature=0.9, seed=7)
    sampled_b = _run(base, suite, tmp_path / "s2", pool, temperature=0.9, seed=7)
    assert sampled_a == sampled_b
    assert sampled_a[0] != greedy_a[0]
    return greedy_a, sampled_a


def test_tiny_model_is_deterministic(tiny_model_dir, suite, tmp_path, isolated_home):
    _, sampled = _check(tiny_model_dir, suite, tmp_path)
    other_seed = _run(tiny_model_dir, suite, tmp_path / "s3", temperature=0.9, seed=8)
    assert other_seed[0] != sampled[0], "a different seed gave the same samples: is sampling on?"


@pytest.mark.model
def test_default_model_is_deterministic(default_model_dir, suite, tmp_path, isolated_home):
    """SmolLM2-135M on 10 samples; one load shared by the runs (loading takes ~9 s on this machine)."""
    greedy, _ = _check(default_model_dir, suite, tmp_path, pool=BasePool())
    texts = [json.loads(line)["text"] for line in greedy[0]]
    assert len(texts) == len(QUESTIONS) and sum(bool(t.strip()) for t in texts) >= 8  # real answers
