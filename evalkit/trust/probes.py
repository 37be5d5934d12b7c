"""Probe prompts: the first rows of the suites being run, as inputs an arm renders itself."""

from __future__ import annotations

from evalkit.types import SampleInput

PROBES_PER_SUITE = 2
MAX_PROBES = 6
# used when no suite has samples before it runs (lm-eval only), so the adapter is still measured
FALLBACK_PROBES = ("What is the capital of France?", "Write one sentence about the sea.")


def probe_inputs(
    suites: list, per_suite: int = PROBES_PER_SUITE, limit: int = MAX_PROBES
) -> list[SampleInput]:
    """The model inputs (suite template applied) of the first ``per_suite`` samples of each suite.

    lm-eval suites have no samples before they run and are skipped; with no
    samples at all the :data:`FALLBACK_PROBES` are used.
    """
    inputs: list[SampleInput] = []
    for suite in suites:
        for sample in suite.samples[:per_suite]:
            inputs.append(suite.render_prompt(sample))
    return inputs[:limit] or list(FALLBACK_PROBES)
