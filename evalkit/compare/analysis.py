"""Join runs on sample id and build the comparison: paired stats, verdicts, flips, prompt-only."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

from evalkit.compare.rundata import RunData
from evalkit.compare.stats import bootstrap_mean_ci, compare_paired, holm_correction, ratio_ci
from evalkit.compare.verdicts import forgetting_verdict, power_note, prompt_only_conclusion, suite_verdict
from evalkit.errors import EvalkitError
from evalkit.suite.spec import FORGETTING_KINDS
from evalkit.types import SCHEMA_VERSION
from evalkit.versions import package_versions


@dataclass(frozen=True)
class CompareOptions:
    """Statistical settings of a comparison."""

    confidence: float = 0.95
    n_resamples: int = 2000
    seed: int = 0
    min_effect: float = 0.05
    forgetting_budget: float | None = None


def arm_kind(spec: dict) -> str:
    """base / prompt_only / tuned, from what a spec changes relative to its base weights."""
    if spec.get("adapter"):
        return "tuned"
    return "prompt_only" if spec.get("system_prompt") else "base"


def build_comparison(
    name: str,
    arms: list[dict],
    runs: dict[str, dict[str, RunData]],
    options: CompareOptions | None = None,
    notices: list[str] | None = None,
) -> dict:
    """The comparison dict (comparison.json): ``arms[0]`` is the reference, runs are ``runs[suite][arm]``."""
    options = options or CompareOptions()
    reference = arms[0]["name"]
    candidates = [a["name"] for a in arms[1:]]
    suites = [_suite_block(suite, by_arm, reference, candidates, options) for suite, by_arm in runs.items()]
    _apply_holm(suites, candidates, options)
    notices = list(notices or []) + exclusion_notices(suites)
    forgetting = [
        forgetting_verdict(
            arm,
            [_delta_entry(s, arm) for s in suites if s["kind"] in FORGETTING_KINDS and _delta_entry(s, arm)],
            options.forgetting_budget,
        )
        for arm in candidates
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "arms": [{**a, "role": "reference" if a["name"] == reference else "candidate"} for a in arms],
        "suites": suites,
        "forgetting": forgetting,
        "prompt_only": _prompt_only(arms, runs, options),
        "flips": [f for suite, by_arm in runs.items() for f in _flips(suite, by_arm, reference, candidates)],
        "samples": {suite: _sample_rows(by_arm) for suite, by_arm in runs.items()},
        "checkpoints": None,
        "history": None,
        "gate": None,
        "metadata": {
            "versions": package_versions(),
            "timings": {},
            "notices": notices,
            "options": options.__dict__,
            "arms": {
                a["name"]: {
                    "fingerprint": a.get("fingerprint"),
                    "generation": (a.get("spec") or {}).get("generation"),
                }
                for a in arms
            },
        },
    }


def exclusion_notices(suites: list[dict]) -> list[str]:
    """One line per (suite, arm) whose score leaves out failed samples, saying how many and why."""
    out = []
    for suite in suites:
        for arm, score in (suite.get("scores") or {}).items():
            if score.get("errors"):
                reason = score.get("excluded_reason") or f"{score['errors']} sample(s) excluded"
                out.append(
                    f"{suite['name']} · {arm}: {reason}; its score uses the other {score['n']} sample(s) "
                    "(failed samples are excluded, never counted as 0)."
                )
    return out


def aligned(ref: RunData, cand: RunData, suite: str) -> list[str]:
    """Sample ids shared by two runs; different sample sets are an error naming the differences."""
    a, b = set(ref.samples), set(cand.samples)
    if a != b:
        only_a, only_b = sorted(a - b)[:5], sorted(b - a)[:5]
        raise EvalkitError(
            f"suite {suite!r}: the runs cover different samples ({len(a - b)} only in the reference, e.g. "
            f"{only_a}; {len(b - a)} only in the candidate, e.g. {only_b}).",
            hint="run every arm with the same --limit and suite version",
        )
    return sorted(a)


def _values(run: RunData, ids: list[str]) -> list[float | None]:
    out = []
    for sid in ids:
        s = run.samples[sid]
        out.append(None if s.error is not None or s.value is None else float(s.value))
    return out


def _suite_block(
    suite: str, by_arm: dict[str, RunData], reference: str, candidates: list[str], options: CompareOptions
) -> dict:
    ref = by_arm[reference]
    for arm in candidates:
        if by_arm[arm].suite.get("version") != ref.suite.get("version"):
            raise EvalkitError(
                f"suite {suite!r}: arm {arm!r} ran version {by_arm[arm].suite.get('version')!r}, "
                f"the reference ran {ref.suite.get('version')!r}; re-run on one version."
            )
    binary = ref.binary
    scores = {}
    for arm, run in by_arm.items():
        vals = [v for v in _values(run, sorted(run.samples)) if v is not None]
        errors = sum(1 for s in run.samples.values() if s.error is not None)
        mean, low, high = (
            bootstrap_mean_ci(
                vals, confidence=options.confidence, n_resamples=options.n_resamples, seed=options.seed
            )
            if vals
            else (None, None, None)
        )
        scores[arm] = {
            "mean": mean,
            "low": low,
            "high": high,
            "n": len(vals),
            "errors": errors,
            "excluded_reason": run.metrics["metrics"][run.primary].get("excluded_reason"),
        }
    deltas = []
    for arm in candidates:
        ids = aligned(ref, by_arm[arm], suite)
        a, b = _values(ref, ids), _values(by_arm[arm], ids)
        if not any(x is not None and y is not None for x, y in zip(a, b)):
            continue
        res = compare_paired(
            a,
            b,
            binary=binary,
            confidence=options.confidence,
            n_resamples=options.n_resamples,
            seed=options.seed,
        )
        pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
        discordant = sum(1 for x, y in pairs if x != y) / len(pairs)
        sd = _sd([y - x for x, y in pairs])
        note, needed = power_note(
            res.n,
            res.mde,
            options.min_effect,
            binary=binary,
            discordant_rate=discordant,
            sd_diff=sd,
            alpha=1 - options.confidence,
        )
        deltas.append(
            {
                "arm": arm,
                "delta": res.delta,
                "low": res.ci_low,
                "high": res.ci_high,
                "p_value": res.p_value,
                "p_holm": None,
                "test": res.test,
                "mde": _finite(res.mde),
                "required_n_for_min_effect": needed,
                "power_note": note,
                "verdict": None,
                "n": res.n,
                "n_excluded": res.n_excluded,
                "fail_to_pass": res.b01,
                "pass_to_fail": res.b10,
            }
        )
    others = {arm: {k: v["mean"] for k, v in run.metrics["metrics"].items()} for arm, run in by_arm.items()}
    return {
        "name": suite,
        "kind": ref.suite.get("kind"),
        "version": ref.suite.get("version"),
        "metric": ref.primary,
        "binary": binary,
        "n": len(ref.samples),
        "scores": scores,
        "deltas": deltas,
        "other_metrics": others,
        "skipped": None,
    }


def _apply_holm(suites: list[dict], candidates: list[str], options: CompareOptions) -> None:
    for arm in candidates:
        entries = [d for s in suites for d in s["deltas"] if d["arm"] == arm]
        adjusted = holm_correction([d["p_value"] for d in entries]) if entries else []
        for d, p in zip(entries, adjusted):
            d["p_holm"] = p
            d["verdict"] = suite_verdict(
                d["delta"],
                d["low"],
                d["high"],
                p,
                alpha=1 - options.confidence,
                min_effect=options.min_effect,
            )


def _delta_entry(suite: dict, arm: str) -> dict | None:
    for d in suite["deltas"]:
        if d["arm"] == arm:
            return {**d, "suite": suite["name"]}
    return None


def _prompt_only(
    arms: list[dict], runs: dict[str, dict[str, RunData]], options: CompareOptions
) -> list[dict]:
    base = next((a["name"] for a in arms if a.get("kind") == "base"), None)
    prompts = [a["name"] for a in arms if a.get("kind") == "prompt_only"]
    tuned = [a["name"] for a in arms if a.get("kind") == "tuned"]
    out = []
    if base is None:
        return out
    for suite, by_arm in runs.items():
        ref = by_arm[base]
        if ref.suite.get("kind") != "task":
            continue
        for p in prompts:
            for t in tuned:
                ids = aligned(ref, by_arm[t], suite)
                r = ratio_ci(
                    _values(ref, ids),
                    _values(by_arm[p], ids),
                    _values(by_arm[t], ids),
                    confidence=options.confidence,
                    n_resamples=options.n_resamples,
                    seed=options.seed,
                )
                out.append(
                    {
                        "suite": suite,
                        "prompt_arm": p,
                        "tuned_arm": t,
                        "defined": r.defined,
                        "ratio": _finite(r.ratio),
                        "low": _finite(r.low),
                        "high": _finite(r.high),
                        "gain_tuned": r.gain_tuned,
                        "gain_prompt": r.gain_prompt,
                        "reason": r.reason,
                        "dropped_resamples": r.n_dropped_resamples,
                        "conclusion": prompt_only_conclusion(suite, r),
                    }
                )
    return out


def _flips(suite: str, by_arm: dict[str, RunData], reference: str, candidates: list[str]) -> list[dict]:
    ref = by_arm[reference]
    flips = []
    for arm in candidates:
        cand = by_arm[arm]
        for sid in sorted(set(ref.samples) & set(cand.samples)):
            a, b = ref.samples[sid], cand.samples[sid]
            if a.passed is None or b.passed is None or a.passed == b.passed:
                continue
            info = ref.inputs.get(sid) or cand.inputs.get(sid) or {}
            flips.append(
                {
                    "suite": suite,
                    "sample_id": sid,
                    "arm": arm,
                    "direction": "fail_to_pass" if b.passed else "pass_to_fail",
                    "category": info.get("category", ""),
                    "input": info.get("input"),
                    "target": info.get("target"),
                    "reference_output": a.text,
                    "candidate_output": b.text,
                    "reference_explanation": a.explanation,
                    "candidate_explanation": b.explanation,
                }
            )
    return flips


def _sample_rows(by_arm: dict[str, RunData]) -> list[dict]:
    first = next(iter(by_arm.values()))
    rows = []
    for sid in sorted(first.samples):
        info = next((r.inputs[sid] for r in by_arm.values() if sid in r.inputs), {})
        outputs = {}
        for arm, run in by_arm.items():
            s = run.samples.get(sid)
            if s is not None:
                outputs[arm] = {
                    "text": s.text,
                    "value": s.value,
                    "passed": s.passed,
                    "explanation": s.explanation,
                    "error": s.error,
                    "judge": s.judge,
                }
        rows.append(
            {
                "id": sid,
                "input": info.get("input"),
                "target": info.get("target"),
                "category": info.get("category", ""),
                "outputs": outputs,
            }
        )
    return rows


def _sd(diffs: list[float]) -> float | None:
    if len(diffs) < 2:
        return None
    mean = sum(diffs) / len(diffs)
    return math.sqrt(sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1))


def _finite(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value
