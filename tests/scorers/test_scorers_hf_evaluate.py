"""hf_evaluate: a local metric script, thresholds, and the clear offline error for hub metrics."""

from __future__ import annotations

import textwrap

import pytest

from evalkit.errors import ConfigError
from evalkit.scorers.registry import build_scorer
from evalkit.types import Generation, Sample

METRIC = textwrap.dedent(
    '''
    """A tiny local evaluate metric: token-overlap recall, plus a constant."""
    import datasets
    import evaluate


    class Overlap(evaluate.Metric):
        def _info(self):
            return evaluate.MetricInfo(
                description="token overlap", citation="", inputs_description="",
                features=datasets.Features({"predictions": datasets.Value("string"),
                                            "references": datasets.Value("string")}),
            )

        def _compute(self, predictions, references, scale=1.0):
            pred, ref = set(predictions[0].split()), references[0].split()
            return {"label": "overlap", "recall": scale * sum(w in pred for w in ref) / len(ref), "n": 1}
    '''
)


@pytest.fixture(scope="module")
def metric_dir(tmp_path_factory):
    """A folder holding ``overlap/overlap.py``, a local evaluate metric."""
    root = tmp_path_factory.mktemp("metrics")
    (root / "overlap").mkdir()
    (root / "overlap" / "overlap.py").write_text(METRIC)
    return root


@pytest.mark.parametrize(
    ("options", "text", "target", "value", "passed"),
    [
        ({}, "the cat sat", "the cat ran away", 0.5, None),
        ({"threshold": 0.5}, "the cat sat", "the cat ran away", 0.5, True),
        ({"threshold": 0.75}, "the cat sat", "the cat ran away", 0.5, False),
        ({"compute_kwargs": {"scale": 2.0}}, "the cat sat", "the cat ran away", 1.0, None),
        ({}, "", "the cat", 0.0, None),
    ],
)
def test_local_metric_script(run, metric_dir, options, text, target, value, passed):
    score = run("hf_evaluate", text, target, metric="overlap", suite_dir=metric_dir, **options)
    assert score.error is None, score.explanation
    assert score.value == pytest.approx(value)
    assert score.passed is passed
    assert score.details["result"]["label"] == "overlap"
    assert score.explanation.startswith("overlap recall=")


def test_local_metric_by_file_path_loads_once(metric_dir):
    fn = build_scorer("hf_evaluate", {"metric": str(metric_dir / "overlap" / "overlap.py")})
    for _ in range(3):
        score = fn(Sample(id="a", input="q", target="a b"), Generation(sample_id="a", text="a"))
        assert score.value == pytest.approx(0.5)


def test_hub_metric_offline_gives_a_clear_config_error():
    fn = build_scorer("hf_evaluate", {"metric": "accuracy"})  # loading is lazy: building succeeds
    sample, gen = Sample(id="a", input="q", target="1"), Generation(sample_id="a", text="1")
    try:
        fn(sample, gen)
    except ConfigError as exc:
        assert str(exc).startswith(
            "could not load evaluate metric 'accuracy': it needs the Hugging Face hub, which is unreachable; "
            "use a local metric path or a built-in scorer such as exact_match"
        )
        with pytest.raises(ConfigError, match="Hugging Face hub"):  # the failure is remembered
            fn(sample, gen)
    else:  # pragma: no cover - only with network access
        pytest.skip("the Hugging Face hub is reachable here")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"metric": "./no/such/metric.py"}, "no such local file or folder"),
        ({"metric": ""}, "option 'metric'"),
        ({"metric": "overlap", "threshold": "high"}, "threshold"),
        ({"metric": "overlap", "compute_kwargs": {"predictions": []}}, "must not set"),
        ({"metric": "overlap", "scale": 2}, "has no option 'scale'"),
    ],
)
def test_config_errors(run, metric_dir, options, message):
    with pytest.raises(ConfigError, match=message):
        run("hf_evaluate", "x", "x", suite_dir=metric_dir, **options)


def test_broken_local_metric_and_missing_target(run, metric_dir, tmp_path):
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ConfigError, match="could not load local evaluate metric"):
        run("hf_evaluate", "x", "x", metric="broken.py", suite_dir=tmp_path)
    assert run("hf_evaluate", "x", None, metric="overlap", suite_dir=metric_dir).error
