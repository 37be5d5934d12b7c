"""lm-eval without its console noise: evalkit draws one progress bar per suite and arm itself.

lm-eval prints tqdm bars for building requests, tokenizing and scoring, and a
warning for every task with a custom dataset loader (all shipped local tasks
have one). Inside evalkit these interleave with the rich progress display, so
:class:`QuietHFLM` turns its bars off and :func:`quiet_lm_eval` silences the
rest for the duration of an evaluation. Real warnings and errors still show.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator

from lm_eval.models.huggingface import HFLM

NOISE = ("Custom kwargs can be passed to `--metadata`",)


class QuietHFLM(HFLM):
    """``HFLM`` that never draws tqdm bars."""

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        """lm-eval's log-likelihoods, bar-less."""
        return super().loglikelihood(requests, disable_tqdm=True)

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        """lm-eval's rolling log-likelihoods, bar-less."""
        return super().loglikelihood_rolling(requests, disable_tqdm=True)

    def generate_until(self, requests, disable_tqdm: bool = False):
        """lm-eval's generations, bar-less."""
        return super().generate_until(requests, disable_tqdm=True)


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in NOISE)


@contextlib.contextmanager
def quiet_lm_eval() -> Iterator[None]:
    """Turn off lm-eval's request-building bars and its custom-loader notice for a block."""
    import lm_eval.api.task as task_module

    logger = logging.getLogger(task_module.__name__)
    noise = _DropNoise()
    logger.addFilter(noise)
    original = task_module.tqdm
    task_module.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        task_module.tqdm = original
        logger.removeFilter(noise)
