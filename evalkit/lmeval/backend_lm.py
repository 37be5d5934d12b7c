"""An lm-eval ``LM`` whose log-likelihoods come from an evalkit Backend (the vLLM one).

lm-eval's own ``VLLM`` model would build a second ``vllm.LLM``; evalkit shares one
engine per base across arms (adapters as LoRA requests), so this class delegates
to the arm's backend instead. Request text follows ``HFLM``: the tokenizer's chat
template (``apply_chat_template``) and ``TemplateLM``'s move of a context's
trailing whitespace onto the continuation. :func:`evalkit.lmeval.adapter.arm_lm` uses it for
``backend: vllm`` arms; ``tests/vllm_real/test_vllm_lmeval.py`` checks it against ``HFLM``.
"""

from __future__ import annotations

from lm_eval.api.model import LM

from evalkit.errors import ConfigError


class BackendLM(LM):
    """lm-eval ``LM`` delegating ``loglikelihood`` to an evalkit Backend."""

    def __init__(self, backend, tokenizer, name: str, batch_size: int | None = None) -> None:
        """Wrap ``backend`` (with ``loglikelihood``) and the arm's ``tokenizer``."""
        super().__init__()
        self.backend = backend
        self.tokenizer = tokenizer
        self._name = name
        self.batch_size = batch_size

    @property
    def tokenizer_name(self) -> str:
        """Name lm-eval records with the chat template in its cache keys."""
        return self._name.replace("/", "__")

    def chat_template(self, chat_template: bool | str = False) -> str | None:
        """The tokenizer's chat template (as HFLM reports it)."""
        return getattr(self.tokenizer, "chat_template", None)

    def apply_chat_template(self, chat_history: list[dict[str, str]],
                            add_generation_prompt: bool = True) -> str:
        """Render a chat history with the arm's tokenizer, as HFLM does."""
        return self.tokenizer.apply_chat_template(
            chat_history, tokenize=False, add_generation_prompt=add_generation_prompt,
            continue_final_message=not add_generation_prompt)

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """(sum log-probability, greedy) of each request's continuation, from the backend."""
        pairs = [split_pair(*req.args) for req in requests]
        results = self.backend.loglikelihood(pairs, batch_size=self.batch_size)
        return [(float(lp), bool(greedy)) for lp, greedy in results]

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        """Not supported on a backend arm: a clear error."""
        raise ConfigError("loglikelihood_rolling (perplexity tasks) is not supported on this backend yet.",
                          hint="run perplexity tasks on backend: hf")

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Not supported on a backend arm: a clear error."""
        raise ConfigError("generate_until tasks are not supported on this backend in lm-eval suites yet.",
                          hint="run generative lm-eval tasks on backend: hf")


def split_pair(context: str, continuation: str) -> tuple[str, str]:
    """Move the context's trailing whitespace onto the continuation, as lm-eval's ``TemplateLM`` does."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces > 0:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    return context, continuation
