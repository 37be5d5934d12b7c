"""Seeded simulations that check evalkit's verdicts mean what the docs say.

Each scenario draws paired data with a known truth (independent or clustered items, pass/fail
or partial-credit scores, repeated draws) and runs the same code ``evalkit compare`` runs.
``bench/stats_calibration.py`` prints the full table; the tests run a reduced version.

The data model keeps every true mean difference known exactly: item ``i`` in cluster ``g`` has
a reference pass probability ``p_i`` and a candidate one ``p_i + e_g + delta``, where the
cluster shift ``e_g`` is symmetric around 0 (so with ``delta = 0`` nothing changed on average,
but whole clusters drift together) and ``p`` stays inside [0, 1].  The two arms' outcomes share
a uniform draw with probability ``concordance`` (a tuned model fails where its base failed),
which leaves their marginal pass rates exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from evalkit.compare.paired import (
    IMPROVED,
    REGRESSED,
    analyse_pairs,
    decide,
    prepare_pairs,
    samples_needed,
)
from evalkit.compare.share import prompt_share
from evalkit.compare.stats import compare_paired

__all__ = [
    "SCENARIOS", "Outcome", "Scenario", "SequentialOutcome", "promised_power", "simulate",
    "simulate_sequential", "simulate_share",
]


@dataclass(frozen=True)
class Scenario:
    """One simulated design: how many clusters and items, what the scores are, the planted change."""

    name: str
    clusters: int
    per_cluster: int
    delta: float = 0.0
    shift: float = 0.0  # half-width of the symmetric cluster-level shift e_g ~ U(-shift, shift)
    concordance: float = 0.6
    checks: int = 1  # >1: partial credit = share of `checks` sub-checks passed (continuous score)
    draws: int = 1  # repeated draws per item
    draws_as_ids: bool = False  # store each draw as its own sample id (the mistake clusters fix)
    declare_clusters: bool = True
    singletons: int = 0  # extra items in clusters of their own (unequal sizes, like general-knowledge)

    @property
    def n(self) -> int:
        """Items in one simulated suite."""
        return self.clusters * self.per_cluster + self.singletons


@dataclass(frozen=True)
class Outcome:
    """Rates over the simulated trials, next to what evalkit promises."""

    scenario: str
    trials: int
    change_called: float  # share of trials with verdict improved or regressed
    coverage: float  # share of intervals that contain the true difference
    naive_change_called: float  # the same data through independent-sample inference (before clusters)
    mean_width: float


def _draw_suite(s: Scenario, rng: np.random.Generator) -> tuple[dict, dict, dict]:
    """(reference, candidate, clusters) for one simulated suite."""
    ref, cand, clusters = {}, {}, {}
    margin = s.shift + abs(s.delta)
    for g in range(s.clusters):
        e_g = rng.uniform(-s.shift, s.shift) if s.shift else 0.0
        for j in range(s.per_cluster):
            p = rng.uniform(0.25 + margin, 0.75 - margin)
            q = p + e_g + s.delta
            shape = (s.draws, s.checks)
            u = rng.random(shape)
            u2 = np.where(rng.random(shape) < s.concordance, u, rng.random(shape))
            r_scores = (u < p).mean(axis=1)
            c_scores = (u2 < q).mean(axis=1)
            if s.draws_as_ids:
                for k in range(s.draws):
                    sid = f"{g}-{j}-{k}"
                    ref[sid], cand[sid], clusters[sid] = float(r_scores[k]), float(c_scores[k]), f"{g}-{j}"
                continue
            sid = f"{g}-{j}"
            clusters[sid] = g
            if s.draws > 1:
                ref[sid], cand[sid] = r_scores.tolist(), c_scores.tolist()
            else:
                ref[sid], cand[sid] = float(r_scores[0]), float(c_scores[0])
    for j in range(s.singletons):
        p = rng.uniform(0.25 + margin, 0.75 - margin)
        u = rng.random(s.checks)
        u2 = np.where(rng.random(s.checks) < s.concordance, u, rng.random(s.checks))
        sid = f"single-{j}"
        ref[sid], cand[sid], clusters[sid] = float((u < p).mean()), float((u2 < p + s.delta).mean()), sid
    return ref, cand, clusters if s.declare_clusters else {}


def simulate(
    s: Scenario, trials: int, *, seed: int = 0, alpha: float = 0.05, min_effect: float = 0.05
) -> Outcome:
    """Run ``trials`` seeded suites of scenario ``s`` through evalkit's paired verdict."""
    rng = np.random.default_rng(seed)
    called = covered = naive = 0
    widths = []
    for t in range(trials):
        ref, cand, clusters = _draw_suite(s, rng)
        data = prepare_pairs(ref, cand, clusters=clusters or None)
        stats = analyse_pairs(data, confidence=1 - alpha, seed=t, permutation_resamples=2000)
        verdict = decide(stats, p_adjusted=stats.p_value, alpha=alpha, min_effect=min_effect)
        called += verdict.verdict in (IMPROVED, REGRESSED)
        covered += verdict.ci_low <= s.delta <= verdict.ci_high
        widths.append(verdict.ci_high - verdict.ci_low)
        naive += _naive_called(data, alpha, t)
    return Outcome(s.name, trials, called / trials, covered / trials, naive / trials, float(np.mean(widths)))


def _naive_called(data, alpha: float, seed: int) -> bool:
    """The pre-cluster procedure: every sample independent, bootstrap CI and McNemar/permutation p."""
    res = compare_paired(data.reference, data.candidate, binary=data.binary, confidence=1 - alpha,
                         n_resamples=500, seed=seed, permutation_resamples=2000)
    return res.p_value < alpha


def promised_power(s: Scenario, trials: int, *, seed: int = 0, alpha: float = 0.05,
                   pilot_scale: int = 20) -> tuple[int, float]:
    """(n that evalkit says detects ``s.delta`` with 80% power, simulated power at that n).

    The promise is computed by evalkit's own planning code from one large pilot suite of the same
    design (``pilot_scale`` times as many clusters, so the promise reflects the design and not a
    noisy pilot); then suites of the promised size are simulated and the verdict counted.
    """
    rng = np.random.default_rng(seed)
    pilot = Scenario(**{**s.__dict__, "clusters": s.clusters * pilot_scale})
    ref, cand, clusters = _draw_suite(pilot, rng)
    stats = analyse_pairs(prepare_pairs(ref, cand, clusters=clusters or None), confidence=1 - alpha)
    n_items = samples_needed(stats, s.delta, alpha) or 0
    per = max(s.per_cluster, 1)
    sized = Scenario(**{**s.__dict__, "clusters": max(int(np.ceil(n_items / per)), 2)})
    out = simulate(sized, trials, seed=seed + 1, alpha=alpha)
    return sized.n, out.change_called


def simulate_share(trials: int, *, n: int = 160, gain_tuned: float = 0.3, gain_prompt: float = 0.15,
                   seed: int = 0, confidence: float = 0.95) -> tuple[float, float]:
    """(coverage of the prompt-only share's interval, share of trials it decides vs the 80% line)."""
    rng = np.random.default_rng(seed)
    truth = gain_prompt / gain_tuned
    covered = decided = 0
    for _ in range(trials):
        u = rng.random(n)
        base = (u < 0.3).astype(float)
        prompt = (u < 0.3 + gain_prompt).astype(float)
        tuned = np.where(rng.random(n) < 0.7, (u < 0.3 + gain_tuned), rng.random(n) < 0.3 + gain_tuned)
        ids = [str(i) for i in range(n)]
        r = prompt_share(dict(zip(ids, base)), dict(zip(ids, prompt)), dict(zip(ids, tuned.astype(float))),
                         confidence=confidence)
        if r.defined:
            covered += r.low <= truth <= r.high
            decided += r.high < 0.8 or r.low >= 0.8
    return covered / trials, decided / trials


SCENARIOS: dict[str, Callable[[int], Scenario]] = {
    "independent, pass/fail": lambda n: Scenario(f"independent pass/fail n={n}", n, 1),
    "independent, partial credit": lambda n: Scenario(f"independent partial credit n={n}", n, 1, checks=4),
    "10 templates x 16": lambda n: Scenario("10 templates x 16, cluster shift", 10, 16, shift=0.2),
    "20 passages x 8": lambda n: Scenario("20 passages x 8, cluster shift", 20, 8, shift=0.2),
    "32 items x 5 draws as ids": lambda n: Scenario("32 items x 5 draws as separate ids", 32, 1,
                                                    shift=0.2, draws=5, draws_as_ids=True),
    "32 items x 5 draws": lambda n: Scenario("32 items x 5 draws (samples_per_item)", 32, 1,
                                             shift=0.2, draws=5),
}


@dataclass(frozen=True)
class SequentialOutcome:
    """How the sequential stopping rule behaved over simulated suites, next to fixed n on the same data."""

    scenario: str
    trials: int
    wrong_call: float  # a change called in the wrong direction (A/A: any change called)
    regression_shown: float  # the verdict at stopping is "regressed"
    ruled_out: float  # the gate's forgetting rule passes: the interval's lower end above -budget
    mean_samples: float  # samples used before stopping (of s.n)
    covered: float  # the interval at stopping contains the truth
    fixed_regression_shown: float  # the fixed-n verdict on the whole suite is "regressed"
    fixed_ruled_out: float  # the fixed-n interval on the whole suite passes the forgetting rule


def simulate_sequential(
    s: Scenario, trials: int, *, seed: int = 0, alpha: float = 0.05, budget: float = 0.08,
    round_size: int = 32, role: str = "regression", gated: bool = True, min_effect: float = 0.05,
) -> SequentialOutcome:
    """Run the sequential rule (a look after every round of whole clusters) on simulated suites.

    The same functions as ``evalkit compare --sequential`` decide each look
    (:func:`~evalkit.compare.sequential.decide_suite`, with the final look's fixed-n interval when
    the suite runs out); each trial also runs the fixed-n analysis of the whole suite at
    ``1 - alpha``, the baseline the sequential rule is measured against.
    """
    from evalkit.compare.analysis import sequential_verdict
    from evalkit.compare.sequential import ClusterDesign, FinalLook, PairedSequence, SequentialLevels

    levels = SequentialLevels(alpha)
    rng = np.random.default_rng(seed)
    wrong = shown = ruled = covered = fixed_shown = fixed_ruled = 0
    used = []
    for t in range(trials):
        ref, cand, clusters = _draw_suite(s, rng)
        groups: dict = {}
        for sid in ref:
            groups.setdefault(clusters.get(sid, sid) if clusters else sid, []).append(sid)
        keys = list(groups)
        units = [groups[keys[i]] for i in rng.permutation(len(keys))]  # a seeded order, as a suite's
        sizes = [len(ids) for ids in units]
        totals = [sum(float(np.mean(cand[i]) - np.mean(ref[i])) for i in ids) for ids in units]
        design = ClusterDesign.from_sizes(sizes)
        pairs = prepare_pairs(ref, cand, clusters=clusters or None)
        full = analyse_pairs(pairs, confidence=1 - alpha, seed=t, permutation_resamples=2000)
        sequence = PairedSequence(design, levels)
        taken = n_items = 0
        while True:
            target, first = min(n_items + round_size, s.n), taken
            while n_items < target:
                n_items += sizes[taken]
                taken += 1
            sequence.add(totals[first:taken], sizes[first:taken])
            exhausted = taken >= len(sizes)
            final = None
            if exhausted:
                last = analyse_pairs(pairs, confidence=1 - levels.final, seed=t, permutation_resamples=2000)
                final = FinalLook(last.ci_low, last.ci_high, last.p_value)
            decision = sequence.decide(role=role, budget=budget, exhausted=exhausted, gated=gated,
                                       final=final)
            if decision.settled:
                break
        verdict = sequential_verdict(decision.low, decision.high, decision.p_value, alpha=alpha,
                                     min_effect=min_effect)
        wrong += (verdict == IMPROVED and s.delta <= 0) or (verdict == REGRESSED and s.delta >= 0)
        shown += verdict == REGRESSED
        ruled += decision.low > -budget
        covered += decision.low <= s.delta <= decision.high
        fixed = decide(full, p_adjusted=full.p_value, alpha=alpha, min_effect=min_effect)
        fixed_shown += fixed.verdict == REGRESSED
        fixed_ruled += full.ci_low > -budget
        used.append(n_items)
    return SequentialOutcome(s.name, trials, wrong / trials, shown / trials, ruled / trials,
                             float(np.mean(used)), covered / trials, fixed_shown / trials,
                             fixed_ruled / trials)
