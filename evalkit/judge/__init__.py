"""LLM judges: rubric and reference scorers, pairwise comparison, cache, budget and cost accounting.

Importing this package registers the ``judge_rubric`` and ``judge_reference``
scorers. Backends: ``anthropic`` (official SDK, key from ``ANTHROPIC_API_KEY``)
and ``openai-compatible`` (any ``/v1/chat/completions`` server). A judge whose
key is missing raises :class:`~evalkit.errors.SuiteSkipped` when built. See
``docs/judges.md``.
"""

from __future__ import annotations

from evalkit.judge.client import JudgeClient, JudgeOutcome
from evalkit.judge.config import JudgeConfig, PairwiseConfig, ReferenceOptions, RubricOptions
from evalkit.judge.pairwise import (
    PairwiseResult,
    add_pairwise_to_comparison,
    judge_pairwise,
    pairwise_config_from_rubric,
    summarise_pairwise,
)
from evalkit.judge.scorers import JudgeScorer, judge_reference, judge_rubric
from evalkit.judge.usage import summarise_judge_usage, write_judge_usage

__all__ = [
    "JudgeClient",
    "JudgeConfig",
    "JudgeOutcome",
    "JudgeScorer",
    "PairwiseConfig",
    "PairwiseResult",
    "ReferenceOptions",
    "RubricOptions",
    "add_pairwise_to_comparison",
    "judge_pairwise",
    "judge_reference",
    "judge_rubric",
    "pairwise_config_from_rubric",
    "summarise_judge_usage",
    "summarise_pairwise",
    "write_judge_usage",
]
