"""Run the trust checks of a comparison before any generation, and fold their findings into its result.

:func:`check_arms` refuses what would make the verdict wrong (a no-op
adapter, undeclared confounds) with exit code 2, and measures the rest
(adapter effect, provenance, served look-alikes, training-data overlap);
:func:`attach_trust` writes the findings into comparison.json: each arm's
``trust`` entry, ``trust.leakage``, per-suite leaked samples and clean-subset
scores, and notices for anything the user chose to allow.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from evalkit.compare.analysis import arm_kind
from evalkit.trust.adapter_effect import compare_served, noop_error
from evalkit.trust.confounds import confound_error, describe, find_confounds
from evalkit.trust.effect_cache import adapter_effect
from evalkit.trust.leakage import leakage_report
from evalkit.trust.probes import probe_inputs
from evalkit.trust.provenance import adapter_provenance


@dataclass(frozen=True)
class TrustOptions:
    """What the user allowed, and extra training data to check for leakage (``--train-data``)."""

    allow_noop_adapter: bool = False
    allow_confound: bool = False
    allow_base_mismatch: bool = False
    train_data: list[Path] = field(default_factory=list)


def check_arms(
    arms: list, suites: list, options: TrustOptions, *, reference_loaded: bool = True, use_cache: bool = True
) -> dict:
    """Check every arm before the runs; raises on a no-op adapter or an undeclared confound.

    ``reference_loaded`` is False when the reference is a committed baseline
    (arms are then all candidates and like-for-like is the baseline's check);
    ``use_cache`` lets adapter-effect measurements made before be reused.
    """
    doc: dict = {"arms": {a.name: {} for a in arms}, "leakage": [], "notices": []}
    reference = arms[0] if reference_loaded else None
    candidates = arms[1:] if reference_loaded else arms
    for arm in candidates if reference is not None else []:
        _check_like_for_like(doc, reference, arm, suites, options)
    # cheap and able to fail on a bad --train-data file: before any model loads for the probes
    doc["leakage"] = _leakage(candidates, suites, options, doc["notices"])
    inputs = probe_inputs(suites)
    for arm in arms:
        if arm.spec.adapter:
            weights = arm.fingerprint_parts.get("weights") if arm.spec.backend in ("hf", "vllm") else None
            doc["arms"][arm.name]["provenance"] = adapter_provenance(arm.spec.adapter, weights)
        if arm.spec.backend == "hf" and arm.spec.adapter:
            _check_adapter_effect(doc, arm, inputs, options, use_cache)
        elif _served_fine_tune(arm, reference):
            _check_served(doc, arm, reference, inputs)
    return doc


def _served_fine_tune(arm, reference) -> bool:
    """A served candidate that claims to be a fine-tune (it names the adapter the server loaded)."""
    # vLLM arms are not opened up either: their probe outputs are compared like a served arm's
    served = arm.spec.backend in ("openai", "vllm") and reference is not None and arm is not reference
    return served and arm_kind(arm.spec.model_dump()) == "tuned"


def _check_like_for_like(doc: dict, reference, arm, suites: list, options: TrustOptions) -> None:
    """Record the arm's confounds; raise on undeclared ones unless --allow-confound."""
    confounds = find_confounds(reference, arm, suites)
    doc["arms"][arm.name]["confounds"] = confounds
    undeclared = [c for c in confounds if not c["declared"]]
    if undeclared and not options.allow_confound:
        raise confound_error(arm.name, reference.name, undeclared)
    for c in undeclared:
        doc["notices"].append(f"WARNING: {arm.name} is confounded (--allow-confound): {describe(c)}")


def _check_adapter_effect(doc: dict, arm, inputs: list, options: TrustOptions, use_cache: bool) -> None:
    """Record the adapter's effect; raise on a no-op adapter unless --allow-noop-adapter."""
    effect = adapter_effect(arm, inputs, use_cache=use_cache)
    doc["arms"][arm.name]["adapter_effect"] = effect
    if not effect["noop"]:
        return
    if not options.allow_noop_adapter:
        raise noop_error(arm, effect)
    doc["notices"].append(
        f"WARNING: {arm.name}: adapter does not change the model "
        f"(max logit difference {effect['max_logit_diff']:.3g}); compared anyway (--allow-noop-adapter)"
    )


def _check_served(doc: dict, arm, reference, inputs: list) -> None:
    """Record how many probe answers of a served fine-tune equal the reference's; warn when all do."""
    served = compare_served(arm, reference, inputs)
    doc["arms"][arm.name]["served_probe"] = served
    if served["all_identical"] and arm.spec.backend == "vllm":
        doc["notices"].append(
            f"WARNING: vLLM arm {arm.name} (adapter {arm.spec.adapter}) gave exactly the reference's greedy "
            f"outputs on all {served['probes']} probe prompts: the adapter may not change the model."
        )
    elif served["all_identical"]:
        doc["notices"].append(
            f"WARNING: served arm {arm.name} (model {arm.spec.model!r}) gave exactly the reference's "
            f"greedy outputs on all {served['probes']} probe prompts: the server may be serving the "
            "base model (unknown adapter name, LoRA not enabled)."
        )


def _leakage(candidates: list, suites: list, options: TrustOptions, notices: list[str]) -> list[dict]:
    """Overlap reports: one per training file (an adapter card's data, or --train-data)."""
    sources: dict[str, dict] = {}
    for path in options.train_data:
        sources.setdefault(str(Path(path).resolve()), {"fmt": "auto", "arms": None, "origin": "--train-data"})
    for arm in candidates:
        data = _card_data(arm)
        if not data:
            continue
        source = str(data.get("source") or "")
        path = Path(source)
        if source.startswith("hub:") or not path.is_file():
            notices.append(
                f"{arm.name}: training data {source!r} (from its adapter card) is not a local file "
                "here, so leakage was not checked; pass --train-data PATH"
            )
            continue
        if data.get("sha256") and _sha256(path) != data["sha256"]:
            notices.append(
                f"{arm.name}: training data {source} changed since the adapter was trained "
                "(sha256 differs from the card); leakage checked against the current file"
            )
        entry = sources.setdefault(
            str(path.resolve()), {"fmt": data.get("format") or "auto", "arms": [], "origin": "adapter card"}
        )
        if entry["arms"] is not None:
            entry["arms"].append(arm.name)
    reports = []
    for path, entry in sources.items():
        report = leakage_report(path, suites, entry["fmt"])
        reports.append({**report, "arms": entry["arms"], "origin": entry["origin"]})
    return reports


def _card_data(arm) -> dict | None:
    from evalkit.models.hf_loading import read_adapter_card

    if not arm.spec.adapter:
        return None
    card = read_adapter_card(arm.spec.adapter) or {}
    return card.get("data")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leaked_ids(trust: dict) -> dict[str, set[str]]:
    """Suite name -> ids of samples found in any checked training file."""
    out: dict[str, set[str]] = {}
    for report in trust.get("leakage") or []:
        for block in report["suites"]:
            out.setdefault(block["suite"], set()).update(s["id"] for s in block["samples"])
    return out


def attach_trust(comparison: dict, trust: dict, runs: dict) -> None:
    """Write the trust findings into a comparison: arms, metadata, suites (clean-subset scores), notices."""
    comparison["trust"] = {"leakage": trust["leakage"]}
    for arm in comparison["arms"]:
        arm["trust"] = trust["arms"].get(arm["name"], {})
        meta = comparison["metadata"]["arms"].setdefault(arm["name"], {})
        if "adapter_effect" in arm["trust"]:
            meta["adapter_effect"] = arm["trust"]["adapter_effect"]
        if "served_probe" in arm["trust"]:
            meta["served_probe"] = arm["trust"]["served_probe"]
    leaked = leaked_ids(trust)
    for suite in comparison["suites"]:
        ids = leaked.get(suite["name"])
        if not ids or suite.get("skipped"):
            continue
        by_arm = runs.get(suite["name"], {})
        suite["leakage"] = {
            "leaked": len(ids),
            "share": round(len(ids) / max(suite["n"] or 0, 1), 6),
            "sample_ids": sorted(ids),
            "clean": clean_scores(by_arm, ids),
        }
        comparison["metadata"]["notices"].append(
            f"{suite['name']}: {len(ids)} sample(s) also occur in the training data; "
            "clean-subset scores are in the report"
        )
    comparison["metadata"]["notices"][:0] = trust["notices"]


def clean_scores(by_arm: dict, leaked: set[str]) -> dict:
    """Each arm's mean on the samples not in the training data, with n."""
    out = {}
    for name, run in by_arm.items():
        values = [r.value for sid, r in run.samples.items() if sid not in leaked and r.value is not None]
        out[name] = {"mean": sum(values) / len(values) if values else None, "n": len(values)}
    return out
