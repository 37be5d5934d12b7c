"""Join runs on sample id and build the comparison: paired stats, verdicts, flips, prompt-only."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

from evalkit.compare.paired import (
    IMPROVED,
    INCONCLUSIVE,
    NO_CHANGE,
    REGRESSED,
    PairedStats,
    analyse_pairs,
    decide,
    prepare_pairs,
    variance_doc,
)
from evalkit.compare.rundata import RunData
from evalkit.compare.schema import COMPARISON_SCHEMA_VERSION
from evalkit.compare.share import prompt_share
from evalkit.compare.stats import bootstrap_mean_ci, holm_correction
from evalkit.compare.verdicts import forgetting_verdict, prompt_only_conclusion
from evalkit.errors import EvalkitError
from evalkit.suite.spec import FORGETTING_KINDS
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
    sequential: dict[tuple[str, str], dict] | None = None,
) -> dict:
    """The comparison dict (comparison.json): ``arms[0]`` is the reference, runs are ``runs[suite][arm]``.

    The dict is what later stages add to (trust, lm-eval, pairwise) before
    :func:`~evalkit.compare.schema.validate_written` types it; its shape is
    :class:`~evalkit.compare.schema.Comparison`.

    ``sequential`` maps (suite, candidate) to the results of a sequential compare; they replace
    the fixed-n interval and test of those deltas (fixed-n inference is not valid after stopping
    on the data) and their p-values, valid under optional stopping, join the Holm family.
    """
    options = options or CompareOptions()
    reference = arms[0]["name"]
    candidates = [a["name"] for a in arms[1:]]
    pending: list[tuple[dict, PairedStats]] = []
    suites = [
        _suite_block(suite, by_arm, reference, candidates, options, pending) for suite, by_arm in runs.items()
    ]
    overridden = set()
    for suite in suites:
        for entry in suite["deltas"]:
            if (suite["name"], entry["arm"]) in (sequential or {}):
                entry.update(sequential[(suite["name"], entry["arm"])])
                overridden.add(id(entry))
    _apply_holm(pending, options, sequential=overridden)
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
        "schema_version": COMPARISON_SCHEMA_VERSION,
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
    suite: str,
    by_arm: dict[str, RunData],
    reference: str,
    candidates: list[str],
    options: CompareOptions,
    pending: list,
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
    clusters = run_clusters(by_arm)
    for arm in candidates:
        ids = aligned(ref, by_arm[arm], suite)
        stats = paired_stats(ref, by_arm[arm], ids, clusters, confidence=options.confidence,
                             seed=options.seed)
        if stats is None:
            continue
        entry = {
            "arm": arm,
            "delta": stats.delta,
            "low": stats.ci_low,
            "high": stats.ci_high,
            "p_value": stats.p_value,
            "p_holm": None,
            "test": stats.test,
            "interval": stats.interval,
            "mde": None,
            "required_n_for_min_effect": None,
            "power_note": "",
            "agreement": None,
            "verdict": None,
            "n": stats.n,
            "n_excluded": stats.n_excluded,
            "n_clusters": stats.n_clusters,
            "icc": stats.icc,
            "design_effect": stats.design_effect,
            "sampling_variance_share": stats.sampling_variance_share,
            "fail_to_pass": stats.fail_to_pass,
            "pass_to_fail": stats.pass_to_fail,
            "variance": variance_doc(stats),
        }
        deltas.append(entry)
        pending.append((entry, stats))
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
        "secondary": _secondary(by_arm, reference, candidates, ref.primary, clusters, options),
        "n_clusters": len(set(clusters.values())) if clusters else None,
        "cluster_field": next(iter(clusters.values())).split("=")[0] if clusters else None,
        "skipped": None,
    }


def _apply_holm(
    pending: list[tuple[dict, PairedStats]], options: CompareOptions, sequential: set[int]
) -> None:
    """Holm across every candidate x suite test of the comparison (one family), then the verdicts.

    Entries in ``sequential`` (by id) carry a sequential compare's interval and p-value.
    """
    p_values = [entry["p_value"] if id(entry) in sequential else stats.p_value for entry, stats in pending]
    adjusted = holm_correction(p_values) if pending else []
    for (entry, stats), p in zip(pending, adjusted):
        if id(entry) in sequential:
            verdict = sequential_verdict(entry["low"], entry["high"], p, alpha=1 - options.confidence,
                                         min_effect=options.min_effect)
            entry.update(p_holm=p, verdict=verdict, holm_family=len(pending))
            continue
        result = decide(stats, p_adjusted=p, alpha=1 - options.confidence, min_effect=options.min_effect,
                        family_size=len(pending))
        entry.update(
            p_holm=p,
            verdict=result.verdict,
            mde=_finite(result.mde),
            required_n_for_min_effect=result.needed_n,
            power_note=result.power_note,
            agreement=result.agreement,
            holm_family=len(pending),
        )


def sequential_verdict(low: float, high: float, p_holm: float, *, alpha: float, min_effect: float) -> str:
    """A sequential delta's verdict: as with fixed n, a change needs the Holm-adjusted test and interval."""
    if p_holm < alpha and low > 0:
        return IMPROVED
    if p_holm < alpha and high < 0:
        return REGRESSED
    if low >= -min_effect and high <= min_effect:
        return NO_CHANGE
    return INCONCLUSIVE


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
                r = prompt_share(
                    _item_means(ref, ids),
                    _item_means(by_arm[p], ids),
                    _item_means(by_arm[t], ids),
                    clusters=run_clusters(by_arm),
                    confidence=options.confidence,
                )
                out.append(
                    {
                        "suite": suite,
                        "prompt_arm": p,
                        "tuned_arm": t,
                        "method": "fieller",
                        "defined": r.defined,
                        "ratio": r.share,
                        "low": r.low,
                        "high": r.high,
                        "gain_tuned": r.gain_tuned,
                        "gain_prompt": r.gain_prompt,
                        "n": r.n,
                        "n_clusters": r.n_clusters,
                        "needed_n": r.needed_n,
                        "reason": r.reason,
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


def paired_stats(
    ref: RunData, cand: RunData, ids: list[str], clusters: dict[str, str], *, confidence: float, seed: int
) -> PairedStats | None:
    """The fixed-n paired analysis of ``cand`` against ``ref`` on ``ids``; None when no pair is usable."""
    a, b = _item_scores(ref, ids), _item_scores(cand, ids)
    if not any(a[i] is not None and b[i] is not None for i in ids):
        return None
    data = prepare_pairs(a, b, clusters=clusters, binary=ref.binary and not _has_draws(a, b))
    return analyse_pairs(data, confidence=confidence, seed=seed)


def _item_scores(run: RunData, ids: list[str]) -> dict[str, float | list[float] | None]:
    """Sample id -> score, or the list of its draws' scores when it was drawn more than once."""
    out: dict[str, float | list[float] | None] = {}
    for sid, value in zip(ids, _values(run, ids)):
        draws = run.samples[sid].draws
        out[sid] = list(draws) if value is not None and draws and len(draws) > 1 else value
    return out


def _item_means(run: RunData, ids: list[str]) -> dict[str, float | None]:
    return dict(zip(ids, _values(run, ids)))


def _has_draws(*arms: dict) -> bool:
    return any(isinstance(v, list) for arm in arms for v in arm.values())


def run_clusters(by_arm: dict[str, RunData]) -> dict[str, str]:
    """Sample id -> cluster id from whichever arm's run knows the suite's clusters (baselines may not)."""
    return next((run.clusters for run in by_arm.values() if run.clusters), {})


def _secondary(
    by_arm: dict[str, RunData], reference: str, candidates: list[str], primary: str,
    clusters: dict[str, str], options: CompareOptions,
) -> list[dict]:
    """Paired intervals for every non-headline metric: exploratory, outside the Holm family and the gate."""
    ref = by_arm[reference]
    out = []
    for metric, ref_values in sorted(ref.metric_values.items()):
        if metric == primary:
            continue
        for arm in candidates:
            cand_values = by_arm[arm].metric_values.get(metric)
            if not cand_values:
                continue
            try:
                data = prepare_pairs(ref_values, cand_values, clusters=clusters)
            except ValueError:
                continue
            stats = analyse_pairs(data, confidence=options.confidence, seed=options.seed)
            out.append({"metric": metric, "arm": arm, "delta": stats.delta, "low": stats.ci_low,
                        "high": stats.ci_high, "p_value": stats.p_value, "n": stats.n, "exploratory": True})
    return out


def _finite(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value
