"""A realistic synthetic comparison (3 arms, 3 suites, flips, hostile outputs) for the report tests."""

from __future__ import annotations

import copy
import math
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

ARMS = ["base", "prompt_only", "tuned"]
PWN_OUTPUT = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
BREAKOUT_OUTPUT = ('</script><script>window.__pwned=3</script>\x00\x07\x1b[31mred\x1b[0m \ud800 lone '
                   'and a pair \ud83d\ude00 \u2028line sep <!-- comment')
HOSTILE_CATEGORY = '<b onmouseover="window.__pwned=6">refunds</b>'
HOSTILE_HISTORY_SUITE = 'gk<img src=x onerror="window.__pwned=4">'
BIG_OUTPUT = "lorem ipsum dolor sit amet " * 40_000  # ~1 MB

# suite -> (kind, metric, binary, n, {arm: pass probability or mean score}, categories)
SUITES = {
    "support-triage": ("task", "triage_exact", True, 40, {"base": 0.35, "prompt_only": 0.5, "tuned": 0.85},
                       ["billing", "shipping", HOSTILE_CATEGORY]),
    "general-knowledge": ("general", "exact_match", True, 60,
                          {"base": 0.8, "prompt_only": 0.8, "tuned": 0.55}, ["history", "science"]),
    "helpfulness": ("task", "judge_score", False, 8, {"base": 5.0, "prompt_only": 5.6, "tuned": 7.2},
                    ["advice"]),
}


def _interval(values: list[float]) -> tuple[float, float, float]:
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / max(1, len(values) - 1)
    half = 1.96 * math.sqrt(var / len(values))
    return mean, mean - half, mean + half


def _samples(rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for suite, (_kind, _metric, binary, n, level, cats) in SUITES.items():
        rows = []
        for i in range(n):
            sid = f"{suite[:2]}-{i:04d}"
            target = rng.choice(["billing", "shipping", "refund"]) if binary else None
            outputs = {}
            for arm in ARMS:
                if binary:
                    passed = rng.random() < level[arm]
                    text = f"Category: {target if passed else 'other'}\nReasoning: ticket {i} mentions it."
                    outputs[arm] = {"text": text, "value": 1.0 if passed else 0.0, "passed": passed,
                                    "explanation": "exact match" if passed else f"expected {target!r}",
                                    "error": None, "judge": None}
                else:
                    score = max(1, min(10, round(rng.gauss(level[arm], 1.2))))
                    outputs[arm] = {"text": f"Here is some advice for case {i}: restart the router.",
                                    "value": float(score), "passed": None,
                                    "explanation": f"judge gave {score}",
                                    "error": None, "judge": {"prompt": f"Rate this answer 1-10:\n<answer>{i}",
                                                             "reply": f"Score: {score}. Clear & concise.",
                                                             "score": score}}
            rows.append({"id": sid, "input": f"Ticket #{i}: my order has not arrived, please help.",
                         "target": target, "category": cats[i % len(cats)], "outputs": outputs})
        out[suite] = rows
    triage = out["support-triage"]
    triage[0]["input"] = [{"role": "system", "content": "You triage tickets."},
                          {"role": "user", "content": "I was charged twice </script>"}]
    # The planted outputs are flips (base passes, candidate fails) so they appear in the explorer too.
    for index, arm, text in ((3, "tuned", PWN_OUTPUT), (4, "prompt_only", BREAKOUT_OUTPUT)):
        triage[index]["outputs"]["base"].update(passed=True, value=1.0)
        triage[index]["outputs"][arm].update(text=text, passed=False, value=0.0)
    triage[5]["outputs"]["base"]["text"] = BIG_OUTPUT
    triage[6]["outputs"]["tuned"].update(error="TimeoutError: generation took > 60 s", text="")
    return out


def _verdict(low: float, high: float, width_limit: float) -> str:
    if low > 0:
        return "improved"
    if high < 0:
        return "regressed"
    return "inconclusive (underpowered)" if high - low > width_limit else "no significant change"


def make_comparison() -> dict[str, Any]:
    """Build the synthetic comparison dict (schema version 1)."""
    rng = random.Random(7)
    samples = _samples(rng)
    suites, flips = [], []
    for name, (kind, metric, binary, n, _level, _cats) in SUITES.items():
        rows = samples[name]
        values = {arm: [r["outputs"][arm]["value"] for r in rows] for arm in ARMS}
        scores = {}
        for arm in ARMS:
            mean, low, high = _interval(values[arm])
            scores[arm] = {"mean": mean, "low": low, "high": high, "n": n, "errors": int(arm == "tuned"),
                           "excluded_reason": None}
        deltas = []
        for arm in ARMS[1:]:
            diffs = [c - b for c, b in zip(values[arm], values["base"], strict=True)]
            delta, low, high = _interval(diffs)
            f2p = p2f = None
            if binary:
                pairs = [(r["outputs"]["base"]["passed"], r["outputs"][arm]["passed"]) for r in rows]
                f2p = sum(1 for before, after in pairs if after and not before)
                p2f = sum(1 for before, after in pairs if before and not after)
                for r in rows:
                    if r["outputs"][arm]["passed"] != r["outputs"]["base"]["passed"]:
                        flips.append({
                            "suite": name, "sample_id": r["id"], "arm": arm, "category": r["category"],
                            "direction": "fail_to_pass" if r["outputs"][arm]["passed"] else "pass_to_fail",
                            "input": r["input"], "target": r["target"],
                            "reference_output": r["outputs"]["base"]["text"],
                            "candidate_output": r["outputs"][arm]["text"],
                            "reference_explanation": r["outputs"]["base"]["explanation"],
                            "candidate_explanation": r["outputs"][arm]["explanation"]})
            deltas.append({"arm": arm, "delta": delta, "low": low, "high": high,
                           "p_value": 0.004 if low > 0 or high < 0 else 0.4,
                           "p_holm": 0.012 if low > 0 or high < 0 else 0.8,
                           "test": "mcnemar_exact" if binary else "paired_bootstrap",
                           "mde": (high - low) / 2 * 1.4, "required_n_for_min_effect": 900, "n": n,
                           "verdict": _verdict(low, high, 0.3 if binary else 3.0),
                           "fail_to_pass": f2p, "pass_to_fail": p2f})
        suites.append({"name": name, "kind": kind, "version": "1", "metric": metric, "binary": binary, "n": n,
                       "scores": scores, "deltas": deltas,
                       "other_metrics": {arm: {"latency_s": 0.4 + i / 10} for i, arm in enumerate(ARMS)},
                       "skipped": None})
    gk = {d["arm"]: d for d in suites[1]["deltas"]}
    return {
        "schema_version": 1, "name": "demo <fine-tune> & friends", "created": "2026-11-23T12:00:00Z",
        "arms": [{"name": arm, "role": "reference" if arm == "base" else "candidate",
                  "kind": {"base": "base", "prompt_only": "prompt_only", "tuned": "tuned"}[arm],
                  "fingerprint": f"sha256:{i}f3a9c0de{i}7b1e" * 3,
                  "spec": {"name": arm, "model": "tiny-gpt2",
                           "adapter": "out/lora" if arm == "tuned" else None}}
                 for i, arm in enumerate(ARMS)],
        "suites": suites,
        "forgetting": [{"arm": arm, "verdict": "forgetting" if gk[arm]["verdict"] == "regressed"
                        else "no forgetting detected", "suites": ["general-knowledge"],
                        "worst_suite": "general-knowledge", "worst_delta": gk[arm]["delta"], "budget": 0.02,
                        "text": f"{arm}: general-knowledge changed by {gk[arm]['delta'] * 100:+.1f} pt"}
                       for arm in ARMS[1:]],
        "prompt_only": [{"suite": "support-triage", "prompt_arm": "prompt_only", "tuned_arm": "tuned",
                         "defined": True, "ratio": 0.42, "low": 0.30, "high": 0.55, "gain_tuned": 0.32,
                         "gain_prompt": 0.13,
                         "conclusion": "a system prompt recovers 42% (CI 30–55%) of the gain on "
                                       "support-triage: fine-tuning is worth it"},
                        {"suite": "helpfulness", "prompt_arm": "prompt_only", "tuned_arm": "tuned",
                         "defined": True, "ratio": 0.27, "low": 0.05, "high": 0.61, "gain_tuned": 2.1,
                         "gain_prompt": 0.6,
                         "conclusion": "a system prompt recovers 27% (CI 5–61%) of the gain on helpfulness"}],
        "flips": flips,
        "samples": samples,
        "checkpoints": [{"step": s, "arm": f"ckpt-{s}", "task_gain": g, "forgetting": f, "accepted": s == 150,
                         "pareto": s in (100, 150, 200)}
                        for s, g, f in ((50, 0.12, -0.01), (100, 0.22, 0.0), (150, 0.3, -0.01),
                                        (200, 0.34, -0.05), (250, 0.31, -0.08))],
        "history": [{"date": f"2026-11-{d:02d}", "suite": suite, "arm": "tuned", "mean": m,
                     "regression": reg}
                    for d, suite, m, reg in ((16, "general-knowledge", 0.8, False),
                                             (18, "general-knowledge", 0.79, False),
                                             (20, "general-knowledge", 0.7, True),
                                             (16, "support-triage", 0.6, False),
                                             (20, "support-triage", 0.85, False),
                                             (18, HOSTILE_HISTORY_SUITE, 0.5, True))],
        "gate": {"passed": False, "rules": [
            {"name": "support-triage min_score", "suite": "support-triage", "passed": True,
             "message": "tuned scored 85.0% ≥ 70%"},
            {"name": "general-knowledge max_regression", "suite": "general-knowledge", "passed": False,
             "message": "tuned changed by −10 pt < −2 pt allowed <script>alert(1)</script>"}]},
        "metadata": {"versions": {"evalkit": "0.1.0", "torch": "2.5.1", "transformers": "4.46.0"},
                     "timings": {"total_s": 123.4, "generation_s": 100.2},
                     "arms": {arm: {"fingerprint": "sha256:abc", "generation": {"temperature": 0.0,
                                                                                "max_new_tokens": 64}}
                              for arm in ARMS},
                     "notices": ["judge not run for style-judge: ANTHROPIC_API_KEY is not set"]},
    }


@pytest.fixture
def comparison() -> dict[str, Any]:
    """A fresh copy of the synthetic comparison."""
    return copy.deepcopy(_CACHED)


@pytest.fixture(scope="session")
def hostile() -> SimpleNamespace:
    """The hostile strings planted in the synthetic comparison."""
    return SimpleNamespace(pwn=PWN_OUTPUT, breakout=BREAKOUT_OUTPUT, category=HOSTILE_CATEGORY,
                           history_suite=HOSTILE_HISTORY_SUITE, big=BIG_OUTPUT)


@pytest.fixture(scope="session")
def report_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic comparison rendered once to ``index.html``."""
    from evalkit.report.html import render_report

    return render_report(copy.deepcopy(_CACHED), tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="session")
def report_html(report_path: Path) -> str:
    """The rendered page as text."""
    return report_path.read_text(encoding="utf-8")


_CACHED = make_comparison()
