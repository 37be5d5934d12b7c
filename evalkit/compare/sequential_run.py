"""`compare --sequential`: generate in rounds and stop each suite as soon as its verdict is settled.

Every suite is consumed in its seeded order (``evalkit.suite.order``), a round at a time (whole
clusters), by every arm.  After each round the stopping rule of :mod:`evalkit.compare.sequential`
is applied to each candidate's paired differences, and a suite stops once its verdict against the
gate is settled: an improvement or a regression shown (task suites), a drop beyond the budget
ruled out or shown (forgetting suites), or the suite is used up, when the final look adds the
fixed-n interval.  Rounds go only to the suites still undecided.  Each suite x candidate interval
has coverage ``1 - alpha`` at whatever round it stopped (the gate's rules need nothing more: a
gate passes only when every rule does); "improvement shown" is called at a level divided over
the comparison's tests, and the p-values join the comparison's Holm family.

The looks come every ``round_size`` samples, but a local model generates ``generate_ahead`` samples
of a suite at a time (one engine batch: a decode step of 32 rows costs about what 128 do), into
the generation cache, before the looks that use them; the looks never see a sample before its
round, so the stopping rule is unchanged, and a suite that stops early has generated up to one
batch it did not use (recorded as ``generated``).  Suites with a judge never generate ahead
(each judged sample costs a call).

lm-eval suites run at their full size (their documents are scored by lm-eval in one pass), as do
suites whose scores leave [0, 1].  With a gate, a suite stops once the gated arm is settled (the
gate's verdict is what the rounds are for), a task suite once the system-prompt arms are too
(:func:`decisive_arms`); without a gate, once every candidate is.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from evalkit.compare.analysis import arm_kind, paired_stats, run_clusters
from evalkit.compare.gate import GateSpec
from evalkit.compare.rundata import RunData
from evalkit.compare.sequential import ClusterDesign, FinalLook, PairedSequence, SequentialLevels
from evalkit.suite.loader import Suite
from evalkit.suite.spec import FORGETTING_KINDS

__all__ = ["SequentialSettings", "SuiteSequence", "budget_for", "cluster_totals", "decisive_arms", "judged",
           "settle"]

METHOD = ("hedged betting confidence sequence (Waudby-Smith & Ramdas 2024) on cluster totals for early "
          "stops; fixed-n paired interval at the final look (union bound)")


@dataclass(frozen=True)
class SequentialSettings:
    """How a sequential comparison spends its samples."""

    round_size: int = 32  # samples per suite per round (rounded up to whole clusters)
    generate_ahead: int = 128  # samples per suite a local arm generates at once, ahead of the looks; 0: off
    alpha: float = 0.05
    early_share: float = 0.2  # of alpha, for the early-stopping sequence; the rest for the final look


@dataclass
class SuiteSequence:
    """One suite's progress: how many samples are in, and each candidate's latest interval."""

    suite: Suite
    budget: float
    role: str
    used: int = 0
    settled: bool = False
    reason: str = "undecided"
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    p_values: dict[str, float] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    sequences: dict[str, PairedSequence] = field(default_factory=dict)  # candidate -> its sequence so far
    reached: dict[str, int] = field(default_factory=dict)  # arm -> samples it generated ahead of the looks

    @property
    def total(self) -> int:
        """Samples the suite has."""
        return len(self.suite.samples)

    def next_prefix(self, round_size: int, cluster_field: str | None) -> Suite:
        """The suite cut to the next round's boundary (at least ``round_size`` more, whole clusters)."""
        target = min(self.used + round_size, self.total)
        samples = self.suite.samples
        if cluster_field:
            while 0 < target < self.total and _label(samples[target], cluster_field) == _label(
                samples[target - 1], cluster_field
            ):
                target += 1
        self.used = target
        return replace(self.suite, samples=samples[:target])

    def ahead_prefix(self, arm: str, size: int) -> Suite | None:
        """The suite cut to ``size`` more samples for ``arm`` to generate now, or None when it has them."""
        if self.reached.get(arm, 0) >= self.used:
            return None
        self.reached[arm] = min(self.total, max(self.used, self.reached.get(arm, 0) + size))
        return replace(self.suite, samples=self.suite.samples[: self.reached[arm]])

    def generated(self, arms: list[str]) -> int:
        """Generations made for this suite, all arms (those made ahead of the looks included)."""
        return sum(max(self.used, self.reached.get(arm, 0)) for arm in arms)

    def record(self) -> dict:
        """This suite's line in comparison.json's round log."""
        return {"used": self.used, "settled": self.settled, "reason": self.reason,
                "intervals": {arm: list(iv) for arm, iv in self.intervals.items()}}


def budget_for(suite: Suite, gate: GateSpec | None, min_effect: float) -> float:
    """The drop a forgetting suite must rule out: its gate rule's max_drop, the forgetting budget,
    else ``min_effect``."""
    if gate is not None:
        rule = gate.suites.get(suite.name)
        if rule is not None and rule.max_drop is not None:
            return rule.max_drop
        if suite.spec.label in FORGETTING_KINDS and gate.forgetting_budget is not None:
            return gate.forgetting_budget
    return min_effect


def cluster_totals(
    ref: RunData, cand: RunData, ids: list[str], cluster_of: Callable[[str], object]
) -> tuple[list[float], list[int]]:
    """Each cluster's total paired difference and size (one sample's when unclustered), in the suite's order.

    Samples that failed in either arm are left out of their cluster (its size counts the rest).
    """
    totals: dict[object, float] = {}
    sizes: dict[object, int] = {}
    for sid in ids:
        key = cluster_of(sid)
        totals.setdefault(key, 0.0)
        sizes.setdefault(key, 0)
        a, b = ref.samples.get(sid), cand.samples.get(sid)
        if a is None or b is None or a.value is None or b.value is None or a.error or b.error:
            continue
        totals[key] += float(b.value) - float(a.value)
        sizes[key] += 1
    return list(totals.values()), list(sizes.values())


def settle(seq: SuiteSequence, by_arm: dict[str, RunData], reference: str, candidates: list[str],
           levels: SequentialLevels, decisive: list[str] | None = None, gated: bool = False,
           seed: int = 0) -> None:
    """Update ``seq`` from the runs of its current prefix: each candidate's interval and the decision.

    Each round adds the clusters that are new since the last one (a prefix of whole clusters
    only grows).  The suite is settled once every arm in ``decisive`` (see :func:`decisive_arms`)
    is settled; the other candidates keep the interval they have reached by then.
    ``gated`` judges forgetting suites by the gate's question (see
    :func:`~evalkit.compare.sequential.decide_suite`).  When the suite has run out, the final
    look adds the fixed-n analysis at the level left for it.
    """
    ids = [s.id for s in seq.suite.samples[: seq.used]]
    meta = {s.id: s.metadata for s in seq.suite.samples}
    field_name = seq.suite.spec.cluster_field

    def cluster_of(sid: str) -> object:
        return meta[sid].get(field_name, ("sample", sid)) if field_name else sid

    if not seq.sequences:
        design = ClusterDesign.from_sizes(list(Counter(cluster_of(s.id) for s in seq.suite.samples).values()))
        seq.sequences = {arm: PairedSequence(design, levels) for arm in candidates}
    exhausted = seq.used >= seq.total
    clusters = run_clusters(by_arm)
    decisions = {}
    for arm in candidates:
        final = None
        if exhausted:
            stats = paired_stats(by_arm[reference], by_arm[arm], ids, clusters,
                                 confidence=1 - levels.final, seed=seed)
            if stats is not None:
                final = FinalLook(stats.ci_low, stats.ci_high, stats.p_value)
        sequence = seq.sequences[arm]
        totals, sizes = cluster_totals(by_arm[reference], by_arm[arm], ids, cluster_of)
        sequence.add(totals[sequence.clusters:], sizes[sequence.clusters:])
        decision = sequence.decide(role=seq.role, budget=seq.budget, exhausted=exhausted,
                                   gated=gated and arm in (decisive or []), final=final)
        seq.intervals[arm], seq.p_values[arm] = (decision.low, decision.high), decision.p_value
        seq.reasons[arm] = decision.reason
        decisions[arm] = decision
    deciding = [decisions[arm] for arm in (decisive or candidates)]
    seq.settled = all(d.settled for d in deciding)
    if seq.settled:
        reasons = sorted({d.reason for d in deciding})
        seq.reason = "exhausted" if exhausted and "exhausted" in reasons else "; ".join(reasons)


def decisive_arms(role: str, kinds: dict[str, str], gated: str | None) -> list[str]:
    """The candidates (name -> base/prompt_only/tuned) whose verdicts must settle before a suite stops.

    Without a gate (``gated`` None) every candidate's.  With one, the gated arm's; on a task
    suite (``role``) also every system-prompt arm's when the comparison has a tuned arm: the
    report's "would a system prompt have been enough?" compares the two on task suites, and a
    sample cut short once the tuned arm's gain was shown would leave the prompt arm's verdict,
    and the share of the gain it recovers, resting on a stop chosen by the other arm's data.
    """
    if gated is None:
        return list(kinds)
    if role == "task" and "tuned" in kinds.values():
        return [gated, *(arm for arm, kind in kinds.items() if kind == "prompt_only" and arm != gated)]
    return [gated]


def scores_in_range(by_arm: dict[str, RunData]) -> bool:
    """Whether every score lies in [0, 1] (the confidence sequence needs bounded differences)."""
    return all(
        s.value is None or (0.0 <= float(s.value) <= 1.0 and not math.isnan(float(s.value)))
        for run in by_arm.values() for s in run.samples.values()
    )


RunAndLoad = Callable[[object, list[Suite]], list[RunData]]
GenerateAhead = Callable[[object, list[Suite]], bool]  # fills the generation cache; False: arm cannot


def judged(suite: Suite) -> bool:
    """Whether scoring the suite calls a judge model (so every generated sample costs a call)."""
    from evalkit.judge.scorers import JudgeScorer

    return any(isinstance(getattr(fn, "__self__", fn), JudgeScorer) for fn in suite.scorers.values())


def run_rounds(
    arms: list, suites: list[Suite], *, settings: SequentialSettings, gate: GateSpec | None,
    min_effect: float, run_and_load: RunAndLoad, generate_ahead: GenerateAhead | None = None,
) -> tuple[dict[str, dict[str, RunData]], dict, dict[tuple[str, str], dict]]:
    """Run every arm in rounds until each suite is settled.

    Returns the runs (as in a fixed-n compare, cut to what each suite used), the ``sequential``
    section of comparison.json, and the per-(suite, candidate) fields that replace the fixed-n
    interval and p-value (those are not valid after stopping on the data); the verdicts follow
    from them with the comparison's Holm correction.  ``generate_ahead`` (when given and
    ``settings.generate_ahead`` > 0) generates each suite's next batch for an arm into the cache
    before the round that needs it; the round's ``run_and_load`` then finds it there.
    """
    reference, candidates = arms[0].name, [a.name for a in arms[1:]]
    sequences = {
        s.name: SuiteSequence(s, budget_for(s, gate, min_effect), _role(s)) for s in suites
        if s.spec.engine != "lm-eval"
    }
    fixed = [s for s in suites if s.spec.engine == "lm-eval"]
    levels = SequentialLevels(settings.alpha, settings.early_share, family=len(candidates) * len(suites))
    gated = gate.arm if gate is not None and gate.arm in candidates else candidates[-1]
    kinds = {a.name: arm_kind(a.spec.model_dump()) for a in arms[1:]}
    runs: dict[str, dict[str, RunData]] = {s.name: {} for s in suites}
    if fixed:
        for arm in arms:
            for suite, run in zip(fixed, run_and_load(arm, fixed)):
                runs[suite.name][arm.name] = run
    rounds, unbounded, cannot_ahead, went_ahead = [], set(), set(), False
    while pending := [q for q in sequences.values() if not q.settled]:
        prefixes = [q.next_prefix(settings.round_size, q.suite.spec.cluster_field) for q in pending]
        for arm in arms:
            if generate_ahead is not None and settings.generate_ahead > 0 and arm.name not in cannot_ahead:
                ahead = [(q, p) for q in pending if not judged(q.suite)
                         if (p := q.ahead_prefix(arm.name, settings.generate_ahead)) is not None]
                if ahead and generate_ahead(arm, [p for _, p in ahead]):
                    went_ahead = True
                elif ahead:
                    cannot_ahead.add(arm.name)
                    for q, _ in ahead:
                        q.reached.pop(arm.name, None)
            for q, run in zip(pending, run_and_load(arm, prefixes)):
                runs[q.suite.name][arm.name] = run
        for q in pending:
            if q.suite.name in unbounded or not scores_in_range(runs[q.suite.name]):
                unbounded.add(q.suite.name)
                q.settled, q.reason = q.used >= q.total, "fixed n: scores outside [0, 1]"
                continue
            settle(q, runs[q.suite.name], reference, candidates, levels,
                   decisive_arms(q.role, kinds, gated if gate is not None else None), gated=gate is not None)
        rounds.append({"round": len(rounds) + 1, "suites": {q.suite.name: q.record() for q in pending}})
    overrides = {}
    for name, q in sequences.items():
        if name in unbounded:
            continue
        for arm in candidates:
            low, high = q.intervals[arm]
            p = q.p_values[arm]
            final = q.used >= q.total
            overrides[(name, arm)] = {
                "low": low, "high": high, "p_value": p,
                "test": "betting_confidence_sequence" + ("+fixed_n_final" if final else ""),
                "interval": "confidence_sequence" + ("+fixed_n_final" if final else ""),
                "power_note": "", "agreement": None, "mde": None,
                "required_n_for_min_effect": None, "variance": None,
                "sequential": {"used": q.used, "total": q.total, "reason": q.reasons[arm]},
            }
    k_arms = len(arms)
    doc = {
        "method": METHOD,
        "alpha": settings.alpha,
        "alpha_per_test": levels.early,
        "alpha_final": levels.final,
        "family": levels.family,
        "round_size": settings.round_size,
        "generate_ahead": settings.generate_ahead if went_ahead else 0,  # 0: no arm did (remote, judged)
        "rounds": rounds,
        "suites": {
            name: {"used": q.used, "total": q.total, "reason": q.reason, "role": q.role, "budget": q.budget,
                   "generated": q.generated([a.name for a in arms]),
                   "fixed_n_would_generate": q.total * k_arms}
            for name, q in sequences.items()
        },
        "fixed_n_suites": [s.name for s in fixed] + sorted(unbounded),
    }
    return runs, doc, overrides


def _label(sample, cluster_field: str) -> object:
    return sample.metadata.get(cluster_field, ("sample", sample.id))


def _role(suite: Suite) -> str:
    return "task" if suite.spec.kind == "task" else "forgetting"
