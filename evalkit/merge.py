"""`evalkit merge`: fold a LoRA adapter into its base and write a deployable model with its own spec.

The adapter is merged (PEFT ``merge_and_unload``) into a *non-quantised*
copy of the base in the chosen dtype; the folder gets safetensors weights,
config, tokenizer (with its chat template), ``merged.yaml`` (a model spec
that evaluates it exactly as the adapter arm was prompted and decoded) and
``merge-card.json`` (what it was merged from). :func:`merge_check` then
compares the adapter as tested with the merged artifact through the normal
compare machinery and reports, per suite, how often the two disagree.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import yaml

from evalkit.compare.schema import Comparison, MergeParity
from evalkit.errors import ConfigError, ModelError
from evalkit.models.spec import ModelSpec, load_model_spec
from evalkit.runner.store import write_json_atomic

MERGED_SPEC = "merged.yaml"
MERGE_CARD = "merge-card.json"
DTYPES = ("float32", "bfloat16", "float16")


def merge_adapter(
    spec: str | Path | ModelSpec, out: str | Path, *, dtype: str = "float32", force: bool = False
) -> Path:
    """Merge the spec's adapter into its base; write weights, tokenizer and merged.yaml into ``out``.

    Returns the path of ``merged.yaml``. ``out`` must not exist (or be empty) unless ``force``.
    """
    from evalkit.models.fingerprint import adapter_fingerprint
    from evalkit.models.hf_loading import (
        check_adapter_base,
        load_tokenizer,
        silence_bitsandbytes_notice,
        torch_dtype,
    )
    from evalkit.models.registry import resolve_base, weights_fingerprint
    from evalkit.versions import package_versions

    source = None if isinstance(spec, ModelSpec) else Path(spec)
    spec = spec if isinstance(spec, ModelSpec) else load_model_spec(spec)
    if dtype not in DTYPES:
        raise ConfigError(f"--dtype {dtype!r}: use one of {', '.join(DTYPES)}.")
    if spec.backend != "hf" or not spec.adapter:
        raise ConfigError(
            f"{source or spec.display_name}: merge needs a local adapter arm (backend: hf with adapter: set)."
        )
    out = Path(out).expanduser().resolve()
    if out.exists() and any(out.iterdir()) and not force:
        raise ConfigError(
            f"{out} already exists and is not empty.", hint="choose another --out, or pass --force"
        )
    base_dir = resolve_base(spec.base)
    weights = weights_fingerprint(base_dir)
    check_adapter_base(spec.adapter, weights, spec.base, spec.allow_base_mismatch)

    import warnings

    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    silence_bitsandbytes_notice()
    from peft import PeftModel

    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            # peft asks transformers' deprecated is_gradient_checkpointing; nothing for a user to act on
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
            model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch_dtype(dtype))
            try:
                merged = PeftModel.from_pretrained(model, spec.adapter).merge_and_unload()
            except (ValueError, RuntimeError, KeyError) as exc:
                raise ModelError(
                    f"adapter {spec.adapter!r} does not fit base {spec.base!r}: {str(exc)[:300]}"
                ) from None
            merged.save_pretrained(tmp, safe_serialization=True)
        load_tokenizer(base_dir).save_pretrained(tmp)
        doc = merged_spec_doc(spec, dtype)
        if spec.chat_template not in ("auto", "none"):
            shutil.copyfile(spec.chat_template, tmp / "chat_template-evalkit.jinja")
            doc["chat_template"] = "chat_template-evalkit.jinja"
        header = f"# The merged model written by `evalkit merge` from {spec.adapter} on {spec.base}.\n"
        (tmp / MERGED_SPEC).write_text(
            header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
        write_json_atomic(
            tmp / MERGE_CARD,
            {
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "source_spec": str(source) if source else None,
                "adapter": spec.adapter,
                "adapter_sha256": adapter_fingerprint(spec.adapter),
                "base": spec.base,
                "base_fingerprint": weights,
                "dtype": dtype,
                "versions": package_versions(),
            },
        )
    except BaseException:  # a failed or interrupted merge leaves no half-written folder
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    tmp.replace(out)
    return out / MERGED_SPEC


def merged_spec_doc(spec: ModelSpec, dtype: str) -> dict:
    """The merged model's spec: the adapter arm's prompting and decoding on the merged weights in ``."``."""
    differences = ["base"]
    if dtype != spec.dtype:
        differences.append("dtype")
    if spec.quantization != "none":
        differences.append("quantization")
    doc: dict = {"name": f"{spec.display_name}-merged", "base": ".", "chat_template": spec.chat_template}
    if spec.system_prompt:
        doc["system_prompt"] = spec.system_prompt
    doc.update(
        {"generation": spec.generation.model_dump(mode="json"), "dtype": dtype, "quantization": "none"}
    )
    if spec.suites:
        doc["suites"] = list(spec.suites)
    # what merging changes on purpose: `evalkit compare tuned.yaml merged.yaml` is not a confound
    doc["intended_differences"] = differences
    return doc


def parity(comparison: Comparison) -> list[MergeParity]:
    """Per suite: how often the merged arm disagrees with the adapter arm (score, text); the paired delta."""
    reference = comparison.arms[0].name
    rows = []
    for suite in comparison.suites:
        if suite.skipped or not suite.deltas:
            continue
        delta = suite.deltas[0]
        samples = comparison.samples.get(suite.name) or []
        pairs = [(s.outputs.get(reference), s.outputs.get(delta.arm)) for s in samples]
        pairs = [(a, b) for a, b in pairs if a and b and a.value is not None and b.value is not None]
        flips = sum(a.value != b.value for a, b in pairs)
        texts = sum(a.text != b.text for a, b in pairs)
        rows.append(
            MergeParity(
                suite=suite.name,
                metric=suite.metric,
                n=len(pairs),
                flips=flips,
                flip_rate=flips / len(pairs) if pairs else None,
                text_diff_rate=texts / len(pairs) if pairs else None,
                delta=delta.delta,
                low=delta.low,
                high=delta.high,
                verdict=delta.verdict,
            )
        )
    return rows


def merge_check(
    adapter_spec: str | Path,
    merged_spec: str | Path,
    *,
    suites: list[str],
    out: Path,
    limit: int | None = None,
    use_cache: bool = True,
    progress=None,
) -> Comparison:
    """Compare the adapter arm (reference) with the merged model; the comparison gains ``merge_check``."""
    from evalkit.compare.orchestrate import CompareRequest, compare, write_outputs

    comparison = compare(
        CompareRequest(
            specs=[adapter_spec, merged_spec], suites=list(suites), out=out, limit=limit, use_cache=use_cache
        ),
        progress=progress,
    )
    comparison.merge_check = parity(comparison)
    return write_outputs(comparison, out)
