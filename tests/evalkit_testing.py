"""Helpers shared by test folders (a module, not a conftest: folders' conftest names would clash)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager

# A local `evaluate` metric (no hub): the character count of the prediction.
CHARS_METRIC = textwrap.dedent(
    """
    import datasets
    import evaluate


    class Chars(evaluate.Metric):
        def _info(self):
            return evaluate.MetricInfo(description="", citation="", inputs_description="",
                                       features=datasets.Features({"predictions": datasets.Value("string"),
                                                                   "references": datasets.Value("string")}))

        def _compute(self, predictions, references):
            return {"chars": len(predictions[0])}
    """
)


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run a block on ``count`` torch intra-op threads (None: leave them), restoring the setting after.

    On a shared 2-core machine, two busy-waiting threads per job are far slower
    than one; results do not depend on the thread count.
    """
    import os

    import torch

    previous, env = torch.get_num_threads(), os.environ.get("EVALKIT_THREADS")
    if count is not None:
        torch.set_num_threads(count)
        os.environ["EVALKIT_THREADS"] = str(count)  # so evalkit's thread governor keeps it too
    try:
        yield
    finally:
        torch.set_num_threads(previous)
        if count is not None:
            if env is None:
                os.environ.pop("EVALKIT_THREADS", None)
            else:
                os.environ["EVALKIT_THREADS"] = env


def make_random_lora(base_dir, out, *, seed: int = 0, rank: int = 8, alpha: int | None = None,
                     scale: float = 1.0):
    """Save a LoRA adapter on q_proj/v_proj with random non-zero weights (so it changes outputs).

    ``scale`` multiplies lora_B: small values nudge the outputs, large ones change them a lot.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    config = LoraConfig(r=rank, lora_alpha=alpha or rank, target_modules=["q_proj", "v_proj"],
                        init_lora_weights=False)
    peft_model = get_peft_model(model, config)
    if scale != 1.0:
        with torch.no_grad():
            for name, param in peft_model.named_parameters():
                if "lora_B" in name:
                    param.mul_(scale)
    peft_model.save_pretrained(out)
    return out
