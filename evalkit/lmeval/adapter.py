"""lm-eval's ``HFLM`` on evalkit's already-loaded model, with the arm's adapter and prompting.

Base and every adapter arm share one loaded base (see
:mod:`evalkit.models.hf_loading`): :func:`arm_lm` takes the shared lock,
activates the arm's adapter (or disables adapters for the base arm) and wraps
the model and tokenizer in an ``HFLM`` for the duration of a block. Nothing is
reloaded, so the numbers are those of the exact weights evalkit generates with.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from evalkit.errors import ConfigError
from evalkit.models.backend import LocalWeights, has_local_weights
from evalkit.models.loader import Arm


@dataclass(frozen=True)
class Prompting:
    """How lm-eval formats requests for an arm: chat template and system instruction."""

    apply_chat_template: bool
    chat_template: str
    system_instruction: str | None
    fewshot_as_multiturn: bool

    def to_dict(self) -> dict:
        """Plain-dict form for run.json."""
        return asdict(self)


def prompting(arm: Arm) -> Prompting:
    """lm-eval prompt settings that follow the arm's ModelSpec.

    ``chat_template: none`` runs plain-text prompts (lm-eval's default);
    ``auto`` or a template file applies the tokenizer's (installed) template,
    with few-shot examples as multi-turn chat as the lm-eval CLI does with
    ``--apply_chat_template``. ``system_prompt`` becomes lm-eval's
    ``system_instruction``.
    """
    use_template = arm.spec.chat_template != "none"
    return Prompting(
        apply_chat_template=use_template,
        chat_template=arm.spec.chat_template,
        system_instruction=arm.spec.system_prompt,
        fewshot_as_multiturn=use_template,
    )


def require_hf(arm: Arm) -> LocalWeights:
    """The arm's backend when lm-eval can score on it (hf or vllm); served models refused clearly."""
    if arm.spec.backend == "vllm":
        return arm.backend  # type: ignore[return-value]
    if arm.spec.backend != "hf" or not has_local_weights(arm.backend):
        raise ConfigError(
            f"arm {arm.name!r}: lm-eval suites need in-process log-likelihoods (backend: hf or vllm), "
            f"not backend {arm.spec.backend!r}.",
            hint="run lm-eval suites on the hf or vllm arms only",
        )
    return arm.backend


def build_hflm(model, tokenizer, batch_size: int, *, share_prefix: bool = False):
    """An ``HFLM`` around a loaded model and tokenizer (no weights are loaded or moved), without tqdm bars.

    ``share_prefix`` makes it a :class:`~evalkit.lmeval.shared_prefix.SharedPrefixHFLM`. Log-softmax
    runs in float32 whatever the model's dtype (bfloat16 logits would round every log-probability).
    """
    import torch

    from evalkit.lmeval.quiet import QuietHFLM
    from evalkit.lmeval.shared_prefix import SharedPrefixHFLM

    with _quiet("lm_eval.models.huggingface"):
        return (SharedPrefixHFLM if share_prefix else QuietHFLM)(pretrained=model, tokenizer=tokenizer,
                                                                   batch_size=batch_size,
                                                                   softmax_dtype=torch.float32)


@contextlib.contextmanager
def arm_lm(arm: Arm, batch_size: int, *, share_prefix: bool = False) -> Iterator[object]:
    """Yield an ``HFLM`` for ``arm`` on the shared base, its adapter selected, the base locked."""
    weights = require_hf(arm)
    if arm.spec.backend == "vllm":
        from evalkit.lmeval.backend_lm import BackendLM

        yield BackendLM(arm.backend, arm.backend.tokenizer, str(arm.spec.base), batch_size)
        return
    loaded = weights.loaded()
    # The arm's own tokenizer: the shared base's may carry another arm's chat template file.
    tokenizer = weights.tokenizer
    from evalkit.models.threads import GOVERNOR

    with loaded.lock, loaded.select(arm.spec.adapter):
        GOVERNOR.update()
        yield build_hflm(loaded.model, tokenizer, batch_size, share_prefix=share_prefix)


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Silence the expected 'pretrained is not a str' warnings of HFLM for a block."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
