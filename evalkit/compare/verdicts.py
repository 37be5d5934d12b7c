"""Plain-language verdicts: per suite, forgetting across suites, and the prompt-only question."""

from __future__ import annotations

from evalkit.compare.paired import IMPROVED, INCONCLUSIVE, NO_CHANGE, REGRESSED
from evalkit.compare.schema import ForgettingVerdict
from evalkit.compare.share import DECISION_SHARE, ShareResult

__all__ = [
    "IMPROVED", "INCONCLUSIVE", "NO_CHANGE", "REGRESSED", "forgetting_verdict", "prompt_only_conclusion",
]


def forgetting_verdict(arm: str, entries: list[dict], budget: float | None) -> dict:
    """Roll per-suite verdicts of regression/general suites into one forgetting verdict for ``arm``."""
    if not entries:
        return {
            "arm": arm,
            "verdict": ForgettingVerdict.NOT_MEASURED.value,
            "suites": [],
            "worst_suite": None,
            "worst_delta": None,
            "budget": budget,
            "text": "no regression or general suites were run",
        }
    # The suite that could hide the biggest drop is the one with the lowest interval bound, which
    # need not be the one with the lowest point estimate.
    worst = min(entries, key=lambda e: (e["low"], e["delta"]))
    regressed = [e for e in entries if e["verdict"] == REGRESSED]
    over_budget = budget is not None and worst["low"] < -budget
    if regressed:
        verdict = ForgettingVerdict.FORGETTING.value
        names = ", ".join(f"{e['suite']} ({_points(e['delta'], signed=True)})" for e in regressed)
        text = f"{arm} forgot: significant drops on {names}"
    elif any(e["verdict"] == INCONCLUSIVE for e in entries) or over_budget:
        verdict = ForgettingVerdict.INCONCLUSIVE.value
        text = (
            f"{arm}: no significant drop, but the data cannot rule out one; worst is {worst['suite']} "
            f"({_points(worst['delta'], signed=True)}, CI {_points(worst['low'], signed=True)} to "
            f"{_points(worst['high'], signed=True)})"
        )
    else:
        verdict = ForgettingVerdict.NONE_DETECTED.value
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
        "worst_low": worst["low"],
        "budget": budget,
        "text": text,
    }


def prompt_only_conclusion(suite: str, ratio: ShareResult) -> str:
    """The plain sentence for the prompt-only verdict on one suite."""
    if not ratio.defined:
        return (
            f"the tuned model shows no clear gain over the base on {suite}, so there is nothing for a "
            f"system prompt to recover"
        )
    share = f"{ratio.share:.0%} (CI {ratio.low:.0%}–{ratio.high:.0%})"
    if ratio.low >= DECISION_SHARE:
        return f"a system prompt recovers {share} of the gain on {suite}: fine-tuning may not be worth it"
    if ratio.high < DECISION_SHARE:
        return f"a system prompt recovers only {share} of the gain on {suite}: fine-tuning is worth it"
    need = (f"; about {ratio.needed_n} samples would decide it (80% power, if these estimates hold)"
            if ratio.needed_n else "")
    return (
        f"a system prompt recovers {share} of the gain on {suite}: the data cannot yet tell whether "
        f"fine-tuning is worth it{need}"
    )


def _points(value: float, signed: bool = False) -> str:
    pts = value * 100
    return f"{pts:+.1f} pt" if signed else f"{abs(pts):.1f}-point"
