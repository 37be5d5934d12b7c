"""Like-for-like: every way a candidate arm's effective settings differ from the reference's.

A comparison should change one thing: the adapter (or, for a prompt-only
arm, the system prompt). Anything else that differs (chat template, dtype,
quantisation, backend, decoding, the generation limit a suite ends up with)
is a confound: it is listed, and refused unless the candidate spec declares
it in ``intended_differences`` or the user passes ``--allow-confound``.
"""

from __future__ import annotations

from pathlib import Path

from evalkit.compare.analysis import arm_kind
from evalkit.errors import EvalkitError

ARM_SETTINGS = ("backend", "base", "chat_template", "system_prompt", "dtype", "quantization")
DECODING_SETTINGS = ("temperature", "top_p", "seed", "stop", "max_new_tokens")


class Confounded(EvalkitError):
    """Arms differ in more than what the comparison is meant to test (exit code 2)."""


def _arm_values(arm, resolve_dtype: bool = True) -> dict[str, object]:
    spec, parts = arm.spec, arm.fingerprint_parts
    served = spec.backend == "openai"
    template = parts.get("chat_template") or ""
    engine = getattr(arm, "engine", None) or {}
    auto = " (auto)" if engine.get("requested") == "auto" else ""
    return {
        "backend": spec.backend + auto,
        "base": None if served else f"{spec.base} (weights {str(parts.get('weights', ''))[:12]})",
        "chat_template": f"{Path(spec.chat_template).name} (sha256 {template[:12]})",
        "system_prompt": spec.system_prompt,
        "dtype": None if served else _engine_dtype(spec, parts.get("dtype")) if resolve_dtype else spec.dtype,
        "quantization": None if served else spec.quantization,
    }


def _engine_dtype(spec, recorded: str | None = None) -> str:
    """The dtype an arm computes in on its engine (vLLM's ``auto`` follows the checkpoint)."""
    if spec.backend == "vllm":
        return spec.dtype if spec.dtype != "auto" else "checkpoint dtype (auto)"
    return _resolved_dtype(spec.dtype, recorded)


def _resolved_dtype(name: str, recorded: str | None = None) -> str:
    """The dtype a spec computes in, not just its name: as its fingerprint recorded it, else resolved here."""
    from evalkit.models.precision import resolve_dtype

    resolved = recorded if recorded and recorded != "auto" else resolve_dtype(name)
    return resolved if name != "auto" else f"{resolved} (auto)"


def _comparable(arm, values: dict[str, object]) -> dict[str, object]:
    """The values to compare: a chat template by its text (a copied file is the same template)."""
    dtype = values["dtype"].removesuffix(" (auto)") if values["dtype"] else None
    backend = values["backend"].removesuffix(" (auto)")
    return {**values, "chat_template": arm.fingerprint_parts.get("chat_template"), "dtype": dtype,
            "backend": backend}


def _decoding(arm, suite) -> dict[str, object]:
    override = suite.spec.generation
    config = arm.spec.generation.merged(max_new_tokens=override.max_new_tokens, stop=override.stop)
    values = {
        "temperature": config.temperature,
        "top_p": config.top_p,
        "seed": config.seed,
        "stop": list(config.stop),
        "max_new_tokens": config.max_new_tokens,
    }
    if config.temperature <= 0:  # greedy decoding ignores top_p and the seed
        values.update(top_p=None, seed=None)
    return values


def exempt_settings(arm) -> set[str]:
    """What the arm exists to change: its adapter always; its system prompt when it is a prompt-only arm."""
    kind = arm_kind(arm.spec.model_dump())
    return {"system_prompt"} if kind == "prompt_only" else set()


def find_confounds(reference, candidate, suites: list) -> list[dict]:
    """The settings in which ``candidate`` differs from ``reference``, beyond what it exists to change.

    Each entry: ``setting``, ``reference`` and ``candidate`` values, ``suites``
    (None for arm-wide settings; the suites where the effective value differs
    for decoding settings), and ``declared`` (listed in intended_differences).
    """
    exempt = exempt_settings(candidate)
    declared = set(candidate.spec.intended_differences)
    found = []
    # Resolving ``auto`` imports torch; arms naming the same dtype load in the same one, so only a
    # difference in names needs it (the values are shown only where they differ).
    resolve = reference.spec.dtype != candidate.spec.dtype
    ref_values, cand_values = _arm_values(reference, resolve), _arm_values(candidate, resolve)
    ref_keys, cand_keys = _comparable(reference, ref_values), _comparable(candidate, cand_values)
    for setting in ARM_SETTINGS:
        if setting not in exempt and ref_keys[setting] != cand_keys[setting]:
            found.append(
                {
                    "setting": setting,
                    "reference": ref_values[setting],
                    "candidate": cand_values[setting],
                    "suites": None,
                    "declared": setting in declared,
                }
            )
    generating = [s for s in suites if s.spec.engine != "lm-eval"]  # log-likelihood suites do not decode
    for setting in DECODING_SETTINGS:
        where, pair = [], None
        for suite in generating:
            ref, cand = _decoding(reference, suite)[setting], _decoding(candidate, suite)[setting]
            if ref != cand:
                where.append(suite.name)
                pair = pair or (ref, cand)
        if where:
            found.append(
                {
                    "setting": setting,
                    "reference": pair[0],
                    "candidate": pair[1],
                    "suites": where,
                    "declared": setting in declared,
                }
            )
    return found


def describe(confound: dict) -> str:
    """One line: ``max_new_tokens: 48 vs 128 (reference) on support-triage, ...``."""
    where = f" on {', '.join(confound['suites'])}" if confound.get("suites") else ""
    note = " (declared)" if confound.get("declared") else ""
    return (
        f"{confound['setting']}: {confound['candidate']!r} vs {confound['reference']!r} (reference)"
        f"{where}{note}"
    )


def confound_error(arm_name: str, reference_name: str, confounds: list[dict]) -> Confounded:
    """The error for undeclared confounds of one candidate arm."""
    lines = "; ".join(describe(c) for c in confounds)
    names = ", ".join(c["setting"] for c in confounds)
    return Confounded(
        f"arm {arm_name!r} differs from the reference {reference_name!r} in more than what it tests: "
        f"{lines}. "
        "A difference in the scores could come from these settings, not from the fine-tune.",
        hint=f"make the settings equal, declare them in the arm's spec (intended_differences: [{names}]), "
        "or pass --allow-confound",
    )
