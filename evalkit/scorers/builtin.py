"""Imports every built-in scorer module so their ``@scorer`` registrations run.

Built-in scorers: exact_match, choice, contains, not_contains, regex (match);
length, rouge, bleu (text); json_valid, json_schema, json_match (structured);
hf_evaluate; ifeval. Heavy dependencies (evaluate, lm-eval, nltk) are only
imported when a scorer that needs them is built or first used.
"""

from __future__ import annotations

from evalkit.judge import scorers as _judge_scorers  # noqa: F401 - judge_rubric, judge_reference
from evalkit.scorers import hf_evaluate, ifeval, match, structured, text  # noqa: F401

BUILTIN_SCORERS = (
    "exact_match",
    "choice",
    "contains",
    "not_contains",
    "regex",
    "length",
    "rouge",
    "bleu",
    "json_valid",
    "json_schema",
    "json_match",
    "hf_evaluate",
    "ifeval",
)
