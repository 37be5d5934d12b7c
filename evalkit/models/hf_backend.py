"""The Hugging Face backend: batched generation and log-likelihoods on a local model."""

from __future__ import annotations

import time

from evalkit.models.backend import BatchCallback
from evalkit.models.hf_loading import DEFAULT_POOL, BasePool, LoadedBase, attach_adapter, check_adapter_base
from evalkit.models.prefix_cache import PrefixCache
from evalkit.models.prompting import apply_template_policy, render_prompt, template_text
from evalkit.models.spec import GenerationConfig, ModelSpec
from evalkit.models.stop_strings import cut_at_stop
from evalkit.models.threads import GOVERNOR
from evalkit.types import Generation, SampleInput

# Tokenizers that render prompts, shared by a process's arms: (base, template setting, template text) -> tok.
_RENDER_TOKENIZERS: dict[tuple[str, str, str], object] = {}


def render_tokenizer(base_dir: str, chat_template: str):
    """The tokenizer that renders prompts for a base and template setting (loaded once per process)."""
    key = (base_dir, chat_template, template_text(base_dir, chat_template))
    if key not in _RENDER_TOKENIZERS:
        from evalkit.models.hf_loading import load_tokenizer

        tok = load_tokenizer(base_dir)
        apply_template_policy(tok, chat_template)
        _RENDER_TOKENIZERS[key] = tok
    return _RENDER_TOKENIZERS[key]


class HFBackend:
    """Runs one model arm (base + optional adapter + prompting) on a shared loaded base."""

    def __init__(self, spec: ModelSpec, base_dir: str, base_fingerprint: str, pool: BasePool | None = None):
        self.spec = spec
        self._pool = pool or DEFAULT_POOL
        self._base_dir = base_dir
        self._base_fingerprint = base_fingerprint
        self._loaded: LoadedBase | None = None
        self._tokenizer = None
        self._prefixes = PrefixCache()
        self.engine_stats: dict = {}

    def close(self) -> None:
        """Nothing to release: the shared base stays in its pool for the process's other arms."""

    @property
    def base_dir(self) -> str:
        """The local folder of the base weights (its config.json names the context length)."""
        return self._base_dir

    @property
    def tokenizer(self):
        """The tokenizer for rendering prompts (loaded lazily, once per base and chat template)."""
        if self._tokenizer is None:
            self._tokenizer = render_tokenizer(self._base_dir, self.spec.chat_template)
        return self._tokenizer

    def loaded(self) -> LoadedBase:
        """The shared base with this arm's adapter attached (loads on first use)."""
        if self._loaded is None:
            loaded = self._pool.get(self._base_dir, self.spec.dtype, self.spec.quantization)
            if self.spec.adapter:
                check_adapter_base(
                    self.spec.adapter, self._base_fingerprint, self.spec.base, self.spec.allow_base_mismatch
                )
                attach_adapter(loaded, self.spec.adapter)
            apply_template_policy(loaded.tokenizer, self.spec.chat_template)
            self._loaded = loaded
        return self._loaded

    def render(self, user_input: SampleInput) -> str:
        """The exact prompt text for one input."""
        return render_prompt(self.tokenizer, user_input, self.spec.system_prompt, self.spec.chat_template)

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

        Supported decoder architectures run on the evalkit engine (shared-prefix
        prefill, continuous batching, early exit; see :mod:`evalkit.models.engine`);
        others fall back to Hugging Face ``generate`` on length-sorted batches.
        ``batch_size`` defaults to the spec's, or to one sized from free memory
        when the spec does not set it. ``seeds`` (one per prompt) replaces
        ``config.seed`` as each prompt's sampling seed (repeated draws).
        """
        from evalkit.models.engine import Engine
        from evalkit.models.kv_attention import supports

        loaded = self.loaded()
        batch_size = batch_size or self.configured_batch_size()
        with loaded.lock, loaded.select(self.spec.adapter):
            if not supports(loaded.model):
                GOVERNOR.update()
                return self._generate_hf(loaded, prompts, config, batch_size, on_batch, seeds)
            eos = _eos_ids(loaded.model, loaded.tokenizer)
            engine = Engine(loaded.model, loaded.tokenizer, eos, self._prefixes)
            results = engine.generate(
                prompts, config, batch_size, adapter_key=self.spec.adapter, on_batch=on_batch, seeds=seeds
            )
            self.engine_stats = {**engine.stats, "dtype_setting": self.spec.dtype}
            return results

    def configured_batch_size(self) -> int | None:
        """The spec's batch size if it sets one explicitly, else None (the engine sizes it from memory)."""
        return self.spec.batch_size if "batch_size" in self.spec.model_fields_set else None

    def _generate_hf(
        self, loaded: LoadedBase, prompts, config, batch_size, on_batch, seeds=None
    ) -> list[Generation]:
        """Fallback: Hugging Face ``generate`` on length-sorted, left-padded batches.

        Sampling here is seeded per batch (from the batch's prompt seeds), so it is
        reproducible for a fixed batch size but, unlike the engine, not batch-invariant.
        """
        import torch

        tok = loaded.tokenizer
        batch_size = batch_size or self.spec.batch_size
        lengths = [len(tok(p, add_special_tokens=False)["input_ids"]) for _, p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
        results: dict[int, Generation] = {}
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                seed = config.seed if seeds is None else _batch_seed([seeds[i] for i in chunk])
                batch = self._generate_batch(loaded, [prompts[i] for i in chunk], config, seed)
                results.update(zip(chunk, batch))
                if on_batch is not None:
                    on_batch(batch)
        return [results[i] for i in range(len(prompts))]

    def _generate_batch(
        self, loaded: LoadedBase, items: list[tuple[str, str]], config: GenerationConfig, seed: int
    ):
        import torch

        tok, model = loaded.tokenizer, loaded.model
        enc = tok([p for _, p in items], return_tensors="pt", padding=True, add_special_tokens=False)
        kwargs = dict(
            max_new_tokens=config.max_new_tokens,
            pad_token_id=tok.pad_token_id,
            do_sample=config.temperature > 0,
        )
        if config.temperature > 0:
            kwargs.update(temperature=config.temperature, top_p=config.top_p)
            torch.manual_seed(seed)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if config.stop:
            kwargs.update(stop_strings=config.stop, tokenizer=tok)
        started = time.perf_counter()
        out = model.generate(**enc, **kwargs)
        elapsed = time.perf_counter() - started
        prompt_len = enc["input_ids"].shape[1]
        generations = []
        for row, (sample_id, _) in enumerate(items):
            new_ids = out[row, prompt_len:].tolist()
            new_ids = _trim_at_eos(new_ids, _eos_ids(model, tok), tok.pad_token_id)
            text, _ = cut_at_stop(tok.decode(new_ids, skip_special_tokens=True), config.stop)
            generations.append(
                Generation(
                    sample_id=sample_id,
                    text=text,
                    prompt_tokens=int(enc["attention_mask"][row].sum()),
                    new_tokens=len(new_ids),
                    latency_s=round(elapsed / len(items), 6),
                )
            )
        return generations

    def loglikelihood(
        self, requests: list[tuple[str, str]], batch_size: int | None = None
    ) -> list[tuple[float, bool]]:
        """Sum log-probability of each continuation given its context, and whether it is the greedy path.

        Log-softmax runs in float32 on the model's logits, whatever dtype the model computes in.
        """
        import torch

        loaded = self.loaded()
        tok, model = loaded.tokenizer, loaded.model
        batch_size = batch_size or self.spec.batch_size
        results: list[tuple[float, bool]] = []
        with torch.inference_mode(), loaded.lock, loaded.select(self.spec.adapter):
            for start in range(0, len(requests), batch_size):
                GOVERNOR.update()
                results.extend(_loglikelihood_batch(model, tok, requests[start : start + batch_size]))
        return results


def _batch_seed(seeds: list[int]) -> int:
    """One seed for a fallback batch from its prompts' seeds."""
    import hashlib

    digest = hashlib.sha256(",".join(map(str, seeds)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


def _eos_ids(model, tok) -> set[int]:
    ids = {tok.eos_token_id} if tok.eos_token_id is not None else set()
    configured = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(configured)
    return ids


def _trim_at_eos(ids: list[int], eos: set[int], pad: int | None) -> list[int]:
    for index, token in enumerate(ids):
        if token in eos:
            return ids[:index]
    while ids and pad is not None and ids[-1] == pad and pad not in eos:
        ids = ids[:-1]
    return ids


def _loglikelihood_batch(model, tok, batch: list[tuple[str, str]]) -> list[tuple[float, bool]]:
    import torch

    encoded = []
    for context, continuation in batch:
        ctx = tok(context, add_special_tokens=False)["input_ids"]
        whole = tok(context + continuation, add_special_tokens=False)["input_ids"]
        n_cont = max(1, len(whole) - len(ctx))
        encoded.append((whole, n_cont))
    width = max(len(w) for w, _ in encoded)
    pad = tok.pad_token_id
    ids = torch.full((len(encoded), width), pad, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, (whole, _) in enumerate(encoded):
        ids[row, width - len(whole) :] = torch.tensor(whole)
        mask[row, width - len(whole) :] = 1
    logits = model(input_ids=ids, attention_mask=mask).logits.float()
    logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
    out = []
    for row, (_, n_cont) in enumerate(encoded):
        targets = ids[row, width - n_cont :]
        lp = logprobs[row, width - n_cont - 1 : width - 1]
        picked = lp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        greedy = bool((lp.argmax(-1) == targets).all())
        out.append((float(picked.sum()), greedy))
    return out
