"""The release gate: per-suite rules and a forgetting budget, judged on confidence bounds."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from evalkit.compare.paired import samples_to_pass_bound
from evalkit.compare.schema import (
    Comparison,
    Delta,
    GateResult,
    GateRule,
    SuiteResult,
    Verdict,
    as_comparison,
)
from evalkit.config import StrictModel, load_config
from evalkit.errors import ConfigError
from evalkit.suite.spec import FORGETTING_KINDS


class SuiteRule(StrictModel):
    """Rules for one suite; every rule is optional."""

    min_score: float | None = Field(None, ge=0)
    max_drop: float | None = Field(None, ge=0)
    require_improvement: bool = False


class GateSpec(StrictModel):
    """gate.yaml: which candidate arm is judged, per-suite rules, forgetting budget.

    ``bound: ci`` (default) judges drops on the lower end of the delta's
    confidence interval (fail unless the data rule the drop out); ``estimate``
    judges on the point estimate.
    """

    arm: str | None = None
    suites: dict[str, SuiteRule] = Field(default_factory=dict)
    forgetting_budget: float | None = Field(None, ge=0)
    bound: Literal["ci", "estimate"] = "ci"
    # Run the comparison sequentially (as `compare --sequential`): stop each suite once settled.
    sequential: bool = False
    # largest share of a suite's samples allowed to occur in the gated arm's training data (0..1)
    max_overlap: float | None = Field(None, ge=0, le=1)


def load_gate(path: str | Path) -> GateSpec:
    """Read and validate a gate YAML."""
    return load_config(GateSpec, path)


def evaluate_gate(comparison: Comparison | dict, gate: GateSpec, source: str = "gate") -> GateResult:
    """Apply the gate to a comparison: whether it passed, the gated arm, and each rule's outcome."""
    comparison = as_comparison(comparison)
    candidates = [a.name for a in comparison.arms if a.role == "candidate"]
    if not candidates:
        raise ConfigError(f"{source}: the comparison has no candidate arm to gate.")
    arm = gate.arm or candidates[-1]
    if arm not in candidates:
        raise ConfigError(
            f"{source}: arm {arm!r} is not a candidate in this comparison ({', '.join(candidates)})."
        )
    suites = {s.name: s for s in comparison.suites}
    missing = [name for name in gate.suites if name not in suites]
    if missing:
        raise ConfigError(
            f"{source}: gate rules name suite(s) not in the run: {', '.join(missing)} "
            f"(the run has: {', '.join(suites)})."
        )
    rules = []
    for name, rule in gate.suites.items():
        if suites[name].skipped:  # a gated suite that could not run fails its rule, visibly
            rules.append(GateRule(name=f"{name}: not run", suite=name, passed=False,
                                  message=f"suite {name!r} was skipped: {suites[name].skipped}"))
            continue
        missing = _no_result(suites[name], arm, comparison)
        if missing:  # never judged on nothing: a suite without a usable result fails its rules
            rules.append(GateRule(name=f"{name}: no usable result", suite=name, passed=False,
                                  message=missing))
            continue
        rules.extend(_suite_rules(name, suites[name], arm, rule, gate.bound))
    if gate.forgetting_budget is not None:
        rules.append(_forgetting_rule(comparison, arm, gate.forgetting_budget, gate.bound))
    if gate.max_overlap is not None:
        from evalkit.trust.overlap_rule import overlap_rule

        rules.append(GateRule(**overlap_rule(comparison, arm, gate.max_overlap)))
    return GateResult(passed=all(r.passed for r in rules), arm=arm, rules=rules)


def _no_result(suite: SuiteResult, arm: str, comparison: Comparison) -> str | None:
    """Why ``arm`` (or the reference) has no usable result on ``suite``, or None when it has one."""
    # Any arm without a usable result on the suite (the reference too) leaves nothing to judge.
    unusable = [u.message for u in comparison.metadata.unusable if u.suite == suite.name]
    if unusable:
        return "; ".join(unusable)
    if not any(d.arm == arm for d in suite.deltas):
        return f"suite {suite.name!r} has no paired result for arm {arm!r} (no sample scored on both arms)"
    return None


def _delta(suite: SuiteResult, arm: str) -> Delta:
    for d in suite.deltas:
        if d.arm == arm:
            return d
    raise ConfigError(f"suite {suite.name!r} has no result for arm {arm!r}.")


def _suite_rules(name: str, suite: SuiteResult, arm: str, rule: SuiteRule, bound: str) -> list[GateRule]:
    out = []
    delta = _delta(suite, arm)
    if rule.min_score is not None:
        score = suite.scores[arm].mean
        ok = score is not None and score >= rule.min_score
        out.append(
            GateRule(
                name=f"{name}: min_score {rule.min_score:g}",
                suite=name,
                passed=ok,
                message=f"{arm} scored {shown(score, rule.min_score)} (needs >= {rule.min_score:g})"
                if score is not None
                else f"{arm} has no score on {name}",
            )
        )
    if rule.max_drop is not None:
        judged = delta.low if bound == "ci" else delta.delta
        ok = judged >= -rule.max_drop
        out.append(
            GateRule(
                name=f"{name}: max_drop {rule.max_drop:g}",
                suite=name,
                passed=ok,
                message=f"delta {delta.delta:+.3f} (CI {delta.low:+.3f} to {delta.high:+.3f}); "
                f"judged on the {'CI lower bound' if bound == 'ci' else 'estimate'} "
                f"{shown(judged, -rule.max_drop, sign=True)} against -{rule.max_drop:g}"
                + ("" if ok or bound != "ci" else _samples_hint(delta, rule.max_drop)),
            )
        )
    if rule.require_improvement:
        ok = delta.verdict == Verdict.IMPROVED
        out.append(
            GateRule(
                name=f"{name}: require_improvement",
                suite=name,
                passed=ok,
                message=f"verdict: {delta.verdict} (Holm-adjusted p = {_p(delta.p_holm)})",
            )
        )
    return out


def shown(value: float, threshold: float, *, sign: bool = False) -> str:
    """``value`` with enough decimals (3 to 6) that it does not print as ``threshold`` unless equal.

    A rule that fails by a hair must not read "-0.080 against -0.08".
    """
    spec = "+" if sign else ""
    for digits in range(3, 7):
        text = f"{value:{spec}.{digits}f}"
        if value == threshold or float(text) != threshold:
            return text
    return f"{value:{spec}.6f}"


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _samples_hint(delta: Delta, budget: float) -> str:
    """Why a CI-bound rule failed on an unshaken estimate: how many samples would let it pass."""
    if delta.delta <= -budget:
        return "; the estimate itself is past the budget, so more samples would not help"
    needed = samples_to_pass_bound(delta.model_dump(), budget)
    if needed is None:
        return ""
    return (f"; the drop is not shown, only not ruled out: about {needed} samples (now {delta.n}) would "
            f"let this budget pass with 80% chance if the estimate holds")


def _forgetting_rule(comparison: Comparison, arm: str, budget: float, bound: str) -> GateRule:
    entries = []
    for suite in comparison.suites:
        if suite.kind in FORGETTING_KINDS:
            missing = _no_result(suite, arm, comparison) if not suite.skipped else suite.skipped
            if missing:
                return GateRule(name=f"forgetting budget {budget:g}", suite=suite.name, passed=False,
                                message=f"forgetting cannot be judged on {suite.name}: {missing}")
            d = _delta(suite, arm)
            entries.append((suite.name, d.low if bound == "ci" else d.delta, d))
    if not entries:
        return GateRule(
            name=f"forgetting budget {budget:g}",
            suite=None,
            passed=False,
            message="no regression/general suites were run, so forgetting cannot be judged",
        )
    worst_name, worst, worst_delta = min(entries, key=lambda e: e[1])
    ok = worst >= -budget
    return GateRule(
        name=f"forgetting budget {budget:g}",
        suite=worst_name,
        passed=ok,
        message=f"worst forgetting suite {worst_name}: {shown(worst, -budget, sign=True)} "
        f"({'CI lower bound' if bound == 'ci' else 'estimate'}) against -{budget:g}"
        + ("" if ok or bound != "ci" else _samples_hint(worst_delta, budget)),
    )
