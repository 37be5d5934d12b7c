"""Pairwise judging for compare: candidate vs reference output, asked in both orders.

For each sample the judge sees (A=reference, B=candidate) and then
(A=candidate, B=reference). Each answer is mapped to the candidate's view:
+1 win, 0 tie, -1 loss. When the two orders agree that is the result; when
they disagree the sample is a tie and counts towards the judge's
``position_bias_rate`` (share of samples whose verdict changed with the order).
The +1/0/-1 values form a paired continuous metric per sample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from evalkit.errors import SuiteSkipped
from evalkit.judge.backends import JudgeRequest
from evalkit.judge.client import JudgeClient, JudgeOutcome
from evalkit.judge.config import PairwiseConfig, validate_options
from evalkit.judge.prompts import ReplyError, pairwise_prompt, parse_pairwise_reply, transcript_prompt
from evalkit.types import Sample

_OUTCOME = {1: "win", 0: "tie", -1: "loss"}


@dataclass(frozen=True)
class PairwiseResult:
    """One sample's pairwise verdict for the candidate against the reference."""

    sample_id: str
    outcome: str | None = None  # "win" | "tie" | "loss" (candidate's view)
    value: float | None = None  # +1 / 0 / -1
    consistent: bool | None = None  # both orders gave the same verdict
    error: str | None = None
    transcripts: dict[str, dict] = field(default_factory=dict)  # "ab" (ref first) and "ba" (cand first)
    usage: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form."""
        return asdict(self)


def pairwise_config_from_rubric(options: Mapping[str, Any]) -> PairwiseConfig:
    """A pairwise config from a ``judge_rubric`` scorer's options: same judge, the rubric as criteria."""
    rubric_only = ("rubric", "scale", "pass_threshold", "samples")
    shared = {k: v for k, v in options.items() if k not in rubric_only}
    if options.get("rubric"):
        shared["criteria"] = "Prefer the reply that better satisfies this rubric: " + str(options["rubric"])
    return validate_options(PairwiseConfig, shared, "pairwise judge")


def pairwise_client(config: PairwiseConfig | Mapping[str, Any]) -> JudgeClient:
    """A judge client for pairwise comparison; SuiteSkipped when the backend's key is missing."""
    cfg = config if isinstance(config, PairwiseConfig) else validate_options(PairwiseConfig, dict(config),
                                                                            "pairwise judge")
    return JudgeClient.from_config(cfg, cache_salt=cfg.criteria, extra_params={"kind": "pairwise"})


def _transcript(outcome: JudgeOutcome, candidate_is: str) -> tuple[dict, int | None]:
    entry = {"prompt": transcript_prompt(outcome.request.system, outcome.request.user), "reply": outcome.text,
             "score": None, "winner": None, "reason": None, "cached": outcome.cached, "error": outcome.error}
    if outcome.error is not None:
        return entry, None
    try:
        winner, reason = parse_pairwise_reply(outcome.text or "")
    except ReplyError as exc:
        entry["error"] = f"judge error: unparseable reply: {exc}"
        return entry, None
    value = 0 if winner == "tie" else (1 if winner == candidate_is else -1)
    entry.update(winner=winner, reason=reason, score=value)
    return entry, value


Outputs = Sequence[str | None] | Mapping[str, str | None]


def judge_pairwise(samples: Sequence[Sample], reference_outputs: Outputs, candidate_outputs: Outputs,
                   config: PairwiseConfig | Mapping[str, Any], *,
                   client: JudgeClient | None = None) -> list[PairwiseResult]:
    """Judge candidate vs reference per sample in both orders; one :class:`PairwiseResult` per sample.

    Outputs are sequences aligned with ``samples`` or mappings by sample id; a
    missing output (None) gives an error result. Raises SuiteSkipped when the
    judge has no API key (unless a ready ``client`` is given).
    """
    client = client or pairwise_client(config)
    criteria = client.cache_salt
    refs = [_pick(reference_outputs, s, i) for i, s in enumerate(samples)]
    cands = [_pick(candidate_outputs, s, i) for i, s in enumerate(samples)]
    requests, owners = [], []
    for i, (sample, ref, cand) in enumerate(zip(samples, refs, cands)):
        if ref is None or cand is None:
            continue
        requests.append(JudgeRequest(*pairwise_prompt(criteria, sample.input, ref, cand)))
        requests.append(JudgeRequest(*pairwise_prompt(criteria, sample.input, cand, ref)))
        owners.append(i)
    outcomes = client.judge_many(requests)
    by_sample = {owner: (outcomes[2 * k], outcomes[2 * k + 1]) for k, owner in enumerate(owners)}
    results = []
    for i, sample in enumerate(samples):
        if i not in by_sample:
            missing = "no output to compare (generation failed or missing)"
            results.append(PairwiseResult(sample.id, error=missing))
            continue
        ab, ba = by_sample[i]
        t_ab, v_ab = _transcript(ab, candidate_is="B")
        t_ba, v_ba = _transcript(ba, candidate_is="A")
        tokens_in, tokens_out = ab.input_tokens + ba.input_tokens, ab.output_tokens + ba.output_tokens
        usage = {"calls": ab.calls + ba.calls, "cached_calls": int(ab.cached) + int(ba.cached),
                 "retries": ab.retries + ba.retries, "input_tokens": tokens_in, "output_tokens": tokens_out,
                 "cost_usd": client.cost(tokens_in, tokens_out)}
        transcripts = {"ab": t_ab, "ba": t_ba}
        if v_ab is None or v_ba is None:
            error = t_ab["error"] or t_ba["error"]
            results.append(PairwiseResult(sample.id, error=error, transcripts=transcripts, usage=usage))
            continue
        consistent = v_ab == v_ba
        value = v_ab if consistent else 0
        results.append(PairwiseResult(sample.id, outcome=_OUTCOME[value], value=float(value),
                                      consistent=consistent, transcripts=transcripts, usage=usage))
    return results


def _pick(outputs: Outputs, sample: Sample, index: int) -> str | None:
    if isinstance(outputs, Mapping):
        return outputs.get(sample.id)
    return outputs[index] if index < len(outputs) else None


def summarise_pairwise(results: Sequence[PairwiseResult], *, confidence: float = 0.95,
                       n_resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Win/tie/loss counts and rates, win rate and mean with bootstrap CIs, position-bias rate, usage."""
    done = [r for r in results if r.value is not None]
    n = len(done)
    wins = sum(1 for r in done if r.value > 0)
    losses = sum(1 for r in done if r.value < 0)
    ties = n - wins - losses
    summary: dict[str, Any] = {
        "n": n, "errors": len(results) - n, "wins": wins, "ties": ties, "losses": losses,
        "win_rate": wins / n if n else None, "tie_rate": ties / n if n else None,
        "loss_rate": losses / n if n else None,
        "position_bias_rate": sum(1 for r in done if not r.consistent) / n if n else None,
        "mean": None, "low": None, "high": None, "win_rate_low": None, "win_rate_high": None,
        "usage": {k: sum(int(r.usage.get(k) or 0) for r in results)
                  for k in ("calls", "cached_calls", "retries", "input_tokens", "output_tokens")},
    }
    costs = [r.usage.get("cost_usd") for r in results if r.usage]
    summary["usage"]["cost_usd"] = round(sum(costs), 6) if costs and None not in costs else None
    if n:
        from evalkit.compare.stats import bootstrap_mean_ci  # numpy/scipy only when summarising

        opts = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
        summary["mean"], summary["low"], summary["high"] = bootstrap_mean_ci([r.value for r in done], **opts)
        _, summary["win_rate_low"], summary["win_rate_high"] = bootstrap_mean_ci(
            [1.0 if r.value > 0 else 0.0 for r in done], **opts)
    return summary


def add_pairwise_to_comparison(comparison: dict, suite_name: str,
                               config: PairwiseConfig | Mapping[str, Any]) -> dict | None:
    """Judge every candidate arm against the reference arm on ``suite_name`` and attach the results.

    Adds ``pairwise`` to the suite's block in ``comparison["suites"]``
    (``{"judge": ..., "arms": {arm: summary}}``) and, per sample,
    ``samples[suite][i]["outputs"][arm]["pairwise"]`` with both transcripts.
    Returns the block, or None (with a notice in ``metadata.notices``) when the
    judge cannot run (no API key) or the suite has no samples in the comparison.
    """
    rows = (comparison.get("samples") or {}).get(suite_name)
    notices = comparison.setdefault("metadata", {}).setdefault("notices", [])
    if not rows:
        notices.append(f"{suite_name}: pairwise judge not run: the suite has no samples in this comparison")
        return None
    try:
        client = pairwise_client(config)
    except SuiteSkipped as exc:
        notices.append(f"{suite_name} (pairwise): {exc.message}")
        return None
    arms = comparison["arms"]
    reference = next(a["name"] for a in arms if a.get("role") == "reference")
    candidates = [a["name"] for a in arms if a["name"] != reference]
    samples = [Sample(id=row["id"], input=row.get("input") or "", target=row.get("target")) for row in rows]
    refs = [_usable_text(row, reference) for row in rows]
    stats = (comparison.get("metadata") or {}).get("options") or {}
    opts = {k: stats[k] for k in ("confidence", "n_resamples", "seed") if k in stats}
    block: dict[str, Any] = {"judge": {"backend": client.config.backend, "model": client.config.model,
                                       "criteria": client.cache_salt}, "reference": reference, "arms": {}}
    for arm in candidates:
        cands = [_usable_text(row, arm) for row in rows]
        results = judge_pairwise(samples, refs, cands, config, client=client)
        block["arms"][arm] = summarise_pairwise(results, **opts)
        for row, result in zip(rows, results):
            output = row.get("outputs", {}).get(arm)
            if output is not None:
                output["pairwise"] = {k: v for k, v in result.to_dict().items() if k != "sample_id"}
    block["notices"] = client.notices
    suite_block = next((s for s in comparison.get("suites", []) if s.get("name") == suite_name), None)
    if suite_block is not None:
        suite_block["pairwise"] = block
    else:
        comparison.setdefault("pairwise", {})[suite_name] = block
    return block


def _usable_text(row: dict, arm: str) -> str | None:
    output = (row.get("outputs") or {}).get(arm)
    if not output or output.get("text") is None:
        return None
    if output.get("error") and str(output["error"]).startswith("generation failed"):
        return None
    return output["text"]
