"""The ``hf_evaluate`` scorer: a bridge to any Hugging Face ``evaluate`` metric.

The metric is loaded lazily, once, on first use. Hub metrics (``"accuracy"``,
``"bertscore"``...) need the Hugging Face hub; offline, loading fails with a
ConfigError that says so and points at local metric scripts or the built-in
scorers.
"""

from __future__ import annotations

import math
import numbers
import threading
from pathlib import Path
from typing import Any

from evalkit.errors import ConfigError
from evalkit.scorers.base import ScoreFn, scorer
from evalkit.scorers.extract import never_crash, output_text, short, target_strings, without_lone_surrogates
from evalkit.types import Generation, Sample, Score


def _local_path(metric: str, suite_dir: Path | None) -> Path | None:
    """The metric as a local path (file or folder), resolved against the suite folder first."""
    candidates = [Path(metric).expanduser()]
    if suite_dir is not None and not Path(metric).is_absolute():
        candidates.insert(0, suite_dir / metric)
    for path in candidates:
        if path.exists():
            return path.resolve()
    return None


def _looks_like_path(metric: str) -> bool:
    # "org/metric" is a hub name; these can only be meant as paths.
    return metric.endswith(".py") or metric.startswith((".", "/", "~")) or "\\" in metric


def _load_metric(metric: str, suite_dir: Path | None) -> Any:
    local = _local_path(metric, suite_dir)
    if local is None and _looks_like_path(metric):
        raise ConfigError(f"could not load evaluate metric {metric!r}: no such local file or folder.")
    try:
        import evaluate
    except ImportError:
        raise ConfigError(
            "the hf_evaluate scorer needs the 'evaluate' package.", hint="pip install evaluate"
        ) from None
    try:
        return evaluate.load(str(local) if local is not None else metric, keep_in_memory=True)
    except Exception as exc:  # evaluate raises FileNotFoundError, ConnectionError, ImportError...
        if local is not None:
            raise ConfigError(
                f"could not load local evaluate metric {str(local)!r}: {type(exc).__name__}: {exc}",
                hint="a local metric is a folder or .py file defining an evaluate.Metric subclass",
            ) from None
        raise ConfigError(
            f"could not load evaluate metric {metric!r}: it needs the Hugging Face hub, "
            "which is unreachable; use a local metric path or a built-in scorer such as exact_match",
            hint=f"evaluate said: {type(exc).__name__}: {str(exc)[:300]}",
        ) from None


def _first_number(result: Any) -> tuple[str, float] | None:
    """The first numeric entry of a metric result (a scalar, or a one-element list of one)."""
    if not isinstance(result, dict):
        return None
    for key, value in result.items():
        if isinstance(value, (list, tuple)) and len(value) == 1:
            value = value[0]
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            continue
        number = float(value)
        if math.isfinite(number):
            return str(key), number
    return None


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of a metric result (numpy scalars and arrays become Python values)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


@scorer("hf_evaluate")
def hf_evaluate(
    *,
    metric: str,
    threshold: float | None = None,
    compute_kwargs: dict | None = None,
    suite_dir: Path | None = None,
) -> ScoreFn:
    """Score each output with ``evaluate.load(metric).compute(predictions=[output], references=[target])``.

    ``metric`` is a hub metric name or a local metric script/folder (relative
    paths resolve against the suite folder). ``compute_kwargs`` are passed to
    ``compute``. Value is the metric's first numeric result; passed is
    ``value >= threshold`` when ``threshold`` is set, else None. A list target
    is passed as that sample's list of references.
    """
    if not isinstance(metric, str) or not metric.strip():
        raise ConfigError(f"option 'metric' must be a metric name or path, got {metric!r}.")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))):
        raise ConfigError(f"option 'threshold' must be a number, got {threshold!r}.")
    if compute_kwargs is not None and not isinstance(compute_kwargs, dict):
        raise ConfigError(f"option 'compute_kwargs' must be a mapping, got {compute_kwargs!r}.")
    reserved = {"predictions", "references"} & set(compute_kwargs or {})
    if reserved:
        raise ConfigError(f"option 'compute_kwargs' must not set {sorted(reserved)}; evalkit supplies them.")
    extra = dict(compute_kwargs or {})
    lock = threading.Lock()
    state: dict[str, Any] = {}

    def loaded() -> Any:
        with lock:
            if "error" in state:
                raise state["error"]
            if "metric" not in state:
                try:
                    state["metric"] = _load_metric(metric, suite_dir)
                except ConfigError as exc:
                    state["error"] = exc
                    raise
            return state["metric"]

    @never_crash("hf_evaluate")
    def score(sample: Sample, generation: Generation) -> Score:
        module = loaded()
        if sample.target is None:
            return Score.failed(f"hf_evaluate: the sample has no target for metric {metric!r}")
        reference = (
            target_strings(sample.target) if isinstance(sample.target, (list, tuple)) else sample.target
        )
        if isinstance(reference, str):
            reference = without_lone_surrogates(reference)
        elif isinstance(reference, list):
            reference = [without_lone_surrogates(r) for r in reference]
        prediction = without_lone_surrogates(output_text(generation))
        try:
            with lock:  # evaluate metrics keep per-instance state; compute one at a time
                result = module.compute(predictions=[prediction], references=[reference], **extra)
        except Exception as exc:  # noqa: BLE001 - any metric failure is this sample's failure
            return Score.failed(
                f"hf_evaluate: metric {metric!r} failed: {type(exc).__name__}: {short(str(exc), 200)}"
            )
        found = _first_number(result)
        if found is None:
            return Score.failed(f"hf_evaluate: metric {metric!r} returned no numeric result: {short(result)}")
        key, value = found
        passed = None if threshold is None else value >= threshold
        explanation = f"{metric} {key}={value:.4g}"
        if threshold is not None:
            explanation += f" ({'>=' if passed else '<'} threshold {threshold:g})"
        return Score(value=value, passed=passed, explanation=explanation, details={"result": _plain(result)})

    return score
