"""Plain-language verdicts: per suite, forgetting across suites, and the prompt-only question."""

from __future__ import annotations

import math

from evalkit.compare.power import required_sample_size

IMPROVED = "improved"
REGRESSED = "regressed"
NO_CHANGE = "no significant change"
INCONCLUSIVE = "inconclusive (underpowered)"


def suite_verdict(
    delta: float, low: float, high: float, p_adjusted: float, *, alpha: float, min_effect: float
) -> str:
    """improved/regressed when significant after Holm; otherwise 'no significant change' only
    when the CI rules out effects larger than ``min_effect`` in both directions, else inconclusive."""
    if p_adjusted < alpha and delta != 0:
        return IMPROVED if delta > 0 else REGRESSED
    if low >= -min_effect and high <= min_effect:
        return NO_CHANGE
    return INCONCLUSIVE


def power_note(
    n: int,
    mde: float,
    min_effect: float,
    *,
    binary: bool,
    discordant_rate: float | None,
    sd_diff: float | None,
    alpha: float,
) -> tuple[str, int | None]:
    """'n=80 cannot detect a 5-point drop; need ~N' style sentence and the N, or ('', None)."""
    if math.isnan(mde) or mde <= min_effect:
        return "", None
    try:
        if binary:
            rate = discordant_rate if discordant_rate else None
            needed = required_sample_size(
                min_effect, discordant_rate=rate, baseline_rate=None if rate else 0.5, alpha=alpha
            )
        else:
            needed = required_sample_size(min_effect, sd_diff=sd_diff or 0.5, alpha=alpha)
    except (ValueError, ZeroDivisionError):
        return "", None
    points = _points(min_effect)
    return (
        f"n={n} cannot reliably detect a {points} change (detectable: {_points(mde)}); need ~{needed}",
        needed,
    )


def forgetting_verdict(arm: str, entries: list[dict], budget: float | None) -> dict:
    """Roll per-suite verdicts of regression/general suites into one forgetting verdict for ``arm``."""
    if not entries:
        return {
            "arm": arm,
            "verdict": "not measured",
            "suites": [],
            "worst_suite": None,
            "worst_delta": None,
            "budget": budget,
            "text": "no regression or general suites were run",
        }
    worst = min(entries, key=lambda e: e["delta"])
    regressed = [e for e in entries if e["verdict"] == REGRESSED]
    over_budget = budget is not None and worst["low"] < -budget
    if regressed:
        verdict = "forgetting"
        names = ", ".join(f"{e['suite']} ({_points(e['delta'], signed=True)})" for e in regressed)
        text = f"{arm} forgot: significant drops on {names}"
    elif any(e["verdict"] == INCONCLUSIVE for e in entries) or over_budget:
        verdict = "inconclusive"
        text = (
            f"{arm}: no significant drop, but the data cannot rule out one; worst is {worst['suite']} "
            f"({_points(worst['delta'], signed=True)}, CI {_points(worst['low'], signed=True)} to "
            f"{_points(worst['high'], signed=True)})"
        )
    else:
        verdict = "no forgetting detected"
        text = (
            f"{arm}: no forgetting detected on {len(entries)} suite(s); worst is {worst['suite']} "
            f"({_points(worst['delta'], signed=True)})"
        )
    return {
        "arm": arm,
        "verdict": verdict,
        "suites": [e["suite"] for e in entries],
        "worst_suite": worst["suite"],
        "worst_delta": worst["delta"],
        "budget": budget,
        "text": text,
    }


def prompt_only_conclusion(suite: str, ratio) -> str:
    """The plain sentence for the prompt-only verdict on one suite."""
    if not ratio.defined:
        return (
            f"the tuned model shows no clear gain over the base on {suite}, so there is nothing for a "
            f"system prompt to recover"
        )
    share = f"{ratio.ratio:.0%} (CI {ratio.low:.0%}–{ratio.high:.0%})"
    if ratio.low >= 0.8:
        return f"a system prompt recovers {share} of the gain on {suite}: fine-tuning may not be worth it"
    if ratio.high < 0.8:
        return f"a system prompt recovers only {share} of the gain on {suite}: fine-tuning is worth it"
    return (
        f"a system prompt recovers {share} of the gain on {suite}: the data cannot yet tell whether "
        f"fine-tuning is worth it"
    )


def _points(value: float, signed: bool = False) -> str:
    pts = value * 100
    return f"{pts:+.1f} pt" if signed else f"{abs(pts):.1f}-point"
