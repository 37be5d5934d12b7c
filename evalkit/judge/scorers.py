"""LLM-judge scorers: ``judge_rubric`` (score on a scale) and ``judge_reference`` (correct vs reference).

Both are registered with :func:`~evalkit.scorers.base.scorer`, take their
options as described in :mod:`evalkit.judge.config`, and return a scoring
function with a ``score_batch`` attribute, so the runner judges a whole suite
concurrently. Unanswered, unparseable or out-of-scale judgements are
``Score`` errors (excluded from metrics), never zeros. Each score keeps the
transcript in ``details["judge"] = {prompt, reply, score, cached, reason,
backend, model, usage, ...}``; with ``samples: k`` the judge is asked k times,
the value is the mean of the k verdicts, every sample's value is kept in
``details["draws"]`` (pass flags in ``details["draws_passed"]``), the same way
repeated generation draws are kept (see :mod:`evalkit.runner.draw_values`), and
``agreement`` (share of draws giving the modal verdict) is recorded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from evalkit.judge.backends import JudgeRequest
from evalkit.judge.client import JudgeClient, JudgeOutcome
from evalkit.judge.config import ReferenceOptions, RubricOptions, options_signature, validate_options
from evalkit.judge.prompts import (
    ReplyError,
    parse_reference_reply,
    parse_rubric_reply,
    reference_prompt,
    rubric_prompt,
    transcript_prompt,
)
from evalkit.runner.draw_values import all_or_none
from evalkit.scorers.base import scorer
from evalkit.types import Generation, Sample, Score

Parse = Callable[[str], tuple[Any, str]]


class JudgeScorer:
    """A scoring function backed by a judge: ``fn(sample, generation)`` and ``fn.score_batch(...)``."""

    def __init__(self, client: JudgeClient, build: Callable[[Sample, Generation], JudgeRequest | str],
                 parse: Parse, verdict: Callable[[list[Any]], Score], samples: int = 1,
                 flag: Callable[[Any], bool | None] = lambda value: None):
        self.client = client
        self._build = build
        self._parse = parse
        self._verdict = verdict  # the parsed judge samples -> their mean as a Score
        self._flag = flag  # one parsed judge sample -> passed (None: no pass/fail)
        self.samples = samples

    def __call__(self, sample: Sample, generation: Generation) -> Score:
        """Judge one sample."""
        return self.score_batch([sample], [generation])[0]

    def usage_summary(self) -> dict[str, Any]:
        """Totals for everything this scorer judged so far (calls, tokens, cost, budget, notices)."""
        return {**self.client.usage.snapshot(), "budget_calls_used": self.client.budget.calls,
                "notices": self.client.notices}

    def score_batch(self, samples: list[Sample], generations: list[Generation]) -> list[Score]:
        """Judge every (sample, generation) pair concurrently; one Score per pair, in order."""
        built = [self._build(s, g) for s, g in zip(samples, generations)]
        requests = [b for b in built if isinstance(b, JudgeRequest)]
        flat = [r for r in requests for _ in range(self.samples)]
        draws = [d for _ in requests for d in range(self.samples)]
        outcomes = iter(self.client.judge_many(flat, draws))
        scores = []
        for item in built:
            if isinstance(item, str):
                scores.append(Score.failed(item))
            else:
                scores.append(self._score([next(outcomes) for _ in range(self.samples)]))
        return scores

    def _score(self, outcomes: list[JudgeOutcome]) -> Score:
        draws, parsed = [], []
        for outcome in outcomes:
            draw: dict[str, Any] = {"reply": outcome.text, "cached": outcome.cached, "score": None,
                                    "reason": None, "error": outcome.error}
            if outcome.error is None:
                try:
                    value, reason = self._parse(outcome.text or "")
                    draw.update(score=value, reason=reason)
                    parsed.append(value)
                except ReplyError as exc:
                    draw["error"] = f"judge error: unparseable reply: {exc}"
            draws.append(draw)
        first = draws[0]
        request = outcomes[0].request
        tokens_in = sum(o.input_tokens for o in outcomes)
        tokens_out = sum(o.output_tokens for o in outcomes)
        calls = sum(o.calls for o in outcomes)
        judge: dict[str, Any] = {
            "prompt": transcript_prompt(request.system, request.user), "reply": first["reply"],
            "score": first["score"], "reason": first["reason"], "cached": all(o.cached for o in outcomes),
            "backend": self.client.config.backend, "model": self.client.config.model,
            "usage": {"calls": calls, "cached_calls": sum(1 for o in outcomes if o.cached),
                      "retries": sum(o.retries for o in outcomes), "input_tokens": tokens_in,
                      "output_tokens": tokens_out, "cost_usd": self.client.cost(tokens_in, tokens_out)},
        }
        if self.client.notices:
            judge["notices"] = self.client.notices
        if self.samples > 1:
            judge["draws"] = draws
            judge["agreement"] = (Counter(parsed).most_common(1)[0][1] / len(parsed)) if parsed else None
        if not parsed:
            error = next(d["error"] for d in draws if d["error"])
            return Score(value=None, passed=None, explanation=error, error=error, details={"judge": judge})
        score = self._verdict(parsed)
        if self.samples > 1 or judge["score"] is None:
            judge["score"] = score.value  # with k draws the transcript shows the aggregate
        reason = first["reason"] or next((d["reason"] for d in draws if d["reason"]), "")
        explanation = f"{score.explanation}: {reason}" if reason else score.explanation
        details: dict[str, Any] = {"judge": judge}
        if self.samples > 1:  # every judge sample's value, as for repeated generation draws
            details["draws"] = [float(v) for v in parsed]
            flags = [self._flag(v) for v in parsed]
            if any(f is not None for f in flags):
                details["draws_passed"] = flags
        return Score(value=score.value, passed=score.passed, explanation=explanation, details=details)


def _output(generation: Generation) -> str:
    return generation.text or ""


@scorer("judge_rubric")
def judge_rubric(**options: Any) -> JudgeScorer:
    """An LLM judge scores each output against ``rubric`` on the integer ``scale`` (e.g. 1-10).

    ``passed`` is ``score >= pass_threshold`` when a threshold is given. With
    ``samples: k`` > 1 the value is the mean of the k parsed scores and ``passed``
    is True when every sample passed, False when none did, None when mixed.
    Options: see :class:`~evalkit.judge.config.RubricOptions`.
    """
    options.pop("suite_dir", None)
    cfg: RubricOptions = validate_options(RubricOptions, options, "judge_rubric")
    client = JudgeClient.from_config(cfg, cache_salt=cfg.rubric, extra_params={"scale": list(cfg.scale)})

    def build(sample: Sample, generation: Generation) -> JudgeRequest:
        return JudgeRequest(*rubric_prompt(cfg.rubric, cfg.scale, sample.input, _output(generation)))

    def flag(value: int) -> bool | None:
        return None if cfg.pass_threshold is None else value >= cfg.pass_threshold

    def verdict(values: list[int]) -> Score:
        value = float(sum(values)) / len(values)
        passed = None if cfg.pass_threshold is None else all_or_none([flag(v) for v in values])
        return Score(value=value, passed=passed, explanation=f"judge score {value:g}/{cfg.scale[1]}")

    return JudgeScorer(client, build, lambda text: parse_rubric_reply(text, cfg.scale), verdict, cfg.samples,
                       flag)


@scorer("judge_reference")
def judge_reference(**options: Any) -> JudgeScorer:
    """An LLM judge decides whether each output is correct given the reference ``sample.target``.

    Value 1.0/0.0 with ``passed``; with ``samples: k`` > 1 the value is the share
    of samples judging it correct and ``passed`` is True when all did, False when
    none did, None when they disagree. Samples without a target are errors.
    Options: see :class:`~evalkit.judge.config.ReferenceOptions`.
    """
    options.pop("suite_dir", None)
    cfg: ReferenceOptions = validate_options(ReferenceOptions, options, "judge_reference")
    client = JudgeClient.from_config(cfg, cache_salt=cfg.criteria or "", extra_params={"kind": "reference"})

    def build(sample: Sample, generation: Generation) -> JudgeRequest | str:
        if sample.target is None or sample.target == "":
            return "judge error: the sample has no reference target"
        return JudgeRequest(*reference_prompt(sample.input, sample.target, _output(generation), cfg.criteria))

    def verdict(values: list[bool]) -> Score:
        passed = all_or_none(values)
        if passed is None:
            return Score(value=sum(values) / len(values), passed=None,
                         explanation=f"judge: correct in {sum(values)} of {len(values)} samples")
        return Score.of_bool(passed, f"judge: {'correct' if passed else 'incorrect'}")

    return JudgeScorer(client, build, parse_reference_reply, verdict, cfg.samples, bool)


judge_rubric.__signature__ = options_signature(RubricOptions)  # type: ignore[attr-defined]
judge_reference.__signature__ = options_signature(ReferenceOptions)  # type: ignore[attr-defined]
