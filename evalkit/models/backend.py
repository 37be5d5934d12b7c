"""`Backend`: the one interface every generation engine implements (HF, OpenAI-compatible, vLLM).

The runner, the lm-eval bridge and the judge's model arm talk to a backend only through these
methods; an engine-specific feature (the HF engine's loaded weights for lm-eval's own model
class, say) is reached through an optional capability checked with ``isinstance``, never by
guessing at attributes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from evalkit.models.spec import GenerationConfig
from evalkit.types import Generation, SampleInput

BatchCallback = Callable[[list[Generation]], None]


@runtime_checkable
class Backend(Protocol):
    """Generates text and scores continuations for one model arm."""

    def render(self, user_input: SampleInput) -> str:
        """The exact text (or canonical request) the model sees for one sample: the cache key's prompt."""
        ...

    def generate(
        self,
        prompts: list[tuple[str, str]],
        config: GenerationConfig,
        *,
        batch_size: int | None = None,
        on_batch: BatchCallback | None = None,
        seeds: list[int] | None = None,
    ) -> list[Generation]:
        """Generate for (sample_id, rendered prompt) pairs; results in input order.

        ``on_batch`` receives finished generations as they complete (for caching and progress);
        ``seeds`` (one per prompt) replaces ``config.seed`` for repeated sampled draws.
        """
        ...

    def loglikelihood(
        self, requests: list[tuple[str, str]], batch_size: int | None = None
    ) -> list[tuple[float, bool]]:
        """Sum log-probability of each (context, continuation) and whether it is the greedy continuation."""
        ...

    def close(self) -> None:
        """Release what the backend holds (connections, engines); safe to call twice."""
        ...


class LocalWeights(Protocol):
    """A backend with weights loaded in this process (lm-eval's own model class can wrap them).

    Test for it with :func:`has_local_weights`, not ``isinstance``: on Python 3.11 a protocol
    ``isinstance`` reads every member, and reading ``tokenizer`` loads the tokenizer.
    """

    @property
    def base_dir(self) -> str:
        """The local folder of the base weights."""
        ...

    @property
    def tokenizer(self):
        """The tokenizer used to render prompts."""
        ...

    def loaded(self):
        """The loaded base (model with the arm's adapter state, tokenizer)."""
        ...


def has_local_weights(backend: object) -> bool:
    """Whether ``backend`` offers :class:`LocalWeights`, found without evaluating its properties."""
    members = ("base_dir", "tokenizer", "loaded")
    return all(inspect.getattr_static(backend, name, None) is not None for name in members)
