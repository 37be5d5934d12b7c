"""evalkit: is my fine-tune better than the model I started from, and what did it break?

The public API mirrors the CLI; heavy modules are imported lazily.
"""

from __future__ import annotations

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "ModelSpec": "evalkit.models.spec",
    "GenerationConfig": "evalkit.models.spec",
    "load_model_spec": "evalkit.models.spec",
    "load_model": "evalkit.models.loader",
    "SuiteSpec": "evalkit.suite.spec",
    "load_suite": "evalkit.suite.loader",
    "run_suite": "evalkit.runner.run",
    "score_run_dir": "evalkit.runner.run",
    "run_model": "evalkit.api",
    "rescore": "evalkit.api",
    "open_cache": "evalkit.cache",
    "Sample": "evalkit.types",
    "Generation": "evalkit.types",
    "Score": "evalkit.types",
    "scorer": "evalkit.scorers.base",
    "EvalkitError": "evalkit.errors",
    "paired_verdict": "evalkit.compare.paired",
    "PairedVerdict": "evalkit.compare.paired",
    "load_comparison": "evalkit.frames",
    "Comparison": "evalkit.frames",
    "Verdict": "evalkit.compare.schema",
    "ForgettingVerdict": "evalkit.compare.schema",
    "load_run": "evalkit.frames",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'evalkit' has no attribute {name!r}")
