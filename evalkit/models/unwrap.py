"""The transformers model inside the wrappers training and evaluation put around it."""

from __future__ import annotations


def causal_lm(model):
    """The causal LM inside a peft, DDP or similar wrapper (``model`` itself when unwrapped)."""
    while hasattr(model, "module"):  # DDP and similar wrappers
        model = model.module
    return model.get_base_model() if hasattr(model, "get_base_model") else model
