"""Does the adapter do anything? Its effect on the next-token distribution, and served-arm look-alikes.

For a local adapter arm (backend ``hf``) the probe prompts run through the
shared base twice, with the adapter active and with it disabled (PEFT's
``disable_adapter()``): the mean KL(adapter || base) over the last
:data:`PROBE_POSITIONS` positions of each prompt and the largest absolute logit
difference there measure what the adapter changes. An untrained LoRA
(``lora_B`` initialised to zero) changes nothing, to the last bit. A served
arm cannot be opened up, so its greedy outputs on the probes are compared
with the reference arm's: identical on every probe usually means the server
fell back to the base model.
"""

from __future__ import annotations

from evalkit.errors import EvalkitError
from evalkit.models.spec import GenerationConfig

#: Below this largest |logit difference| (over the probed positions) an adapter counts as a no-op.
NOOP_MAX_LOGIT_DIFF = 1e-4
PROBE_MAX_NEW_TOKENS = 24
PROBE_POSITIONS = 16  # next-token distributions compared per probe prompt: its last 16 positions


class NoopAdapter(EvalkitError):
    """An adapter arm whose adapter does not change the model (exit code 2)."""


def measure_adapter_effect(arm, inputs: list) -> dict:
    """Mean KL(adapter || base) and max |logit difference| of an hf adapter arm on probe inputs."""
    import torch

    backend = arm.backend
    prompts = [backend.render(text) for text in inputs]
    loaded = backend.loaded()
    tok, model = loaded.tokenizer, loaded.model
    kl_sum, positions, max_diff = 0.0, 0, 0.0
    with torch.inference_mode(), loaded.lock:
        for prompt in prompts:  # one at a time: no padding, and measured faster than a padded batch
            ids = tok(prompt, return_tensors="pt", add_special_tokens=False)
            with loaded.select(arm.spec.adapter):
                tuned = _last_logits(model, ids)[0]
            with loaded.select(None):
                base = _last_logits(model, ids)[0]
            max_diff = max(max_diff, float((tuned - base).abs().max()))
            log_t, log_b = torch.log_softmax(tuned, -1), torch.log_softmax(base, -1)
            kl_sum += float((log_t.exp() * (log_t - log_b)).sum(-1).clamp_min(0).sum())
            positions += tuned.shape[0]
    return {
        "method": "logits vs disable_adapter()",
        "probes": len(prompts),
        "positions": positions,
        "mean_kl": kl_sum / max(positions, 1),
        "max_logit_diff": max_diff,
        "tolerance": NOOP_MAX_LOGIT_DIFF,
        "noop": max_diff < NOOP_MAX_LOGIT_DIFF,
    }


def _last_logits(model, ids):
    """Float logits at the last PROBE_POSITIONS positions of a batch (no vocabulary projection elsewhere)."""
    try:
        logits = model(**ids, logits_to_keep=PROBE_POSITIONS).logits
    except TypeError:  # a model class without logits_to_keep
        logits = model(**ids).logits[:, -PROBE_POSITIONS:]
    return logits.float()


def _probe_config(arm) -> GenerationConfig:
    return arm.spec.generation.merged(
        max_new_tokens=min(arm.spec.generation.max_new_tokens, PROBE_MAX_NEW_TOKENS)
    ).model_copy(update={"temperature": 0.0})


def greedy_outputs(arm, inputs: list) -> list[str | None]:
    """The arm's greedy outputs on the probe inputs (None where a probe failed)."""
    items = [(f"probe-{i}", arm.backend.render(text)) for i, text in enumerate(inputs)]
    generations = arm.backend.generate(items, _probe_config(arm))
    return [None if g.error else g.text for g in generations]


def compare_served(arm, reference, inputs: list) -> dict:
    """How many probe outputs of a served arm equal the reference arm's (greedy, short)."""
    mine, theirs = greedy_outputs(arm, inputs), greedy_outputs(reference, inputs)
    pairs = [(a, b) for a, b in zip(mine, theirs) if a is not None and b is not None]
    same = sum(a == b for a, b in pairs)
    return {
        "method": f"greedy outputs vs {reference.name}",
        "probes": len(pairs),
        "identical": same,
        "all_identical": bool(pairs) and same == len(pairs),
    }


def noop_error(arm, effect: dict) -> NoopAdapter:
    """The error that stops a comparison on a no-op adapter, naming it and what was measured."""
    return NoopAdapter(
        f"arm {arm.name!r}: adapter {arm.spec.adapter} does not change the model: on {effect['probes']} "
        f"probe prompt(s) the largest logit difference from the base is {effect['max_logit_diff']:.3g} "
        f"(tolerance {NOOP_MAX_LOGIT_DIFF:g}) and the mean KL is {effect['mean_kl']:.3g}. "
        "An untrained LoRA (lora_B all zero) or a wrong checkpoint does this.",
        hint="point adapter: at the trained adapter, or pass --allow-noop-adapter to compare it anyway",
    )
