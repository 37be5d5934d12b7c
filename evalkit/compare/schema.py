"""The shape of comparison.json: pydantic models, the verdict words, and the reader for every version.

Documents evalkit writes are validated strictly (:func:`validate_written`: unknown keys are errors)
and carry ``schema_version`` 2. Version 1 documents were written without a published shape, so
:func:`read_comparison` reads them leniently: keys later writers dropped are ignored and fields
later writers added take their defaults; it does the same for keys newer writers may add. A
document from a newer schema version, or one whose known fields have the wrong type, is a clear
:class:`~evalkit.errors.DataError`. Parts owned by another stage (an arm's model
spec, the trust findings, lm-eval's reproduce block, checkpoint curves) are kept as plain JSON
objects here: their shape is that stage's business.

Regenerate the committed JSON Schema (``evalkit/compare/comparison.schema.json``) with
``make comparison-schema`` (``python -m evalkit.compare.schema``, which rewrites ``comparison.schema.json``).
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from evalkit.errors import DataError

COMPARISON_SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)


class _Word(str, Enum):
    """A str enum whose str() and format() are the word itself (so f-strings and JSON show the word)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class Verdict(_Word):
    """The verdict on one candidate's change on one suite (also the merge-parity verdict)."""

    IMPROVED = "improved"
    REGRESSED = "regressed"
    NO_CHANGE = "no significant change"
    INCONCLUSIVE = "inconclusive (underpowered)"


class ForgettingVerdict(_Word):
    """The forgetting verdict of one candidate across the regression and general suites."""

    FORGETTING = "forgetting"
    INCONCLUSIVE = "inconclusive"
    NONE_DETECTED = "no forgetting detected"
    NOT_MEASURED = "not measured"


class Doc(BaseModel):
    """A part of comparison.json: unknown keys are errors, except when reading an older version.

    Item access (``doc["suites"]``, ``doc.get("gate")``) reads fields as a dict of the JSON would;
    it lets code written against the plain dict read the typed document while it moves to attributes.
    """

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    @model_validator(mode="wrap")
    @classmethod
    def _drop_unknown_when_lenient(cls, data: Any, handler: Any, info: Any) -> Any:
        if isinstance(data, dict) and info.context and info.context.get("lenient"):
            data = {k: v for k, v in data.items() if k in cls.model_fields}
        return handler(data)

    def __getitem__(self, key: str) -> Any:
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in self.model_fields_set

    def get(self, key: str, default: Any = None) -> Any:
        """The field's value; ``default`` instead when one is given and the document did not set the field."""
        if key not in type(self).model_fields or (key not in self.model_fields_set and default is not None):
            return default
        return getattr(self, key)


JSON = dict[str, Any]


class ArmEngine(Doc):
    """Which generation engine ran an arm: what its spec asked for, what ran, and why."""

    requested: str
    """The spec's ``backend`` (``hf``, ``vllm``, ``openai`` or ``auto``)."""
    used: str
    """The engine that ran it (``hf``, ``vllm`` or ``openai``)."""
    version: str | None = None
    """vLLM's version, when vLLM ran the arm."""
    reason: str | None = None
    """Why ``auto`` chose this engine."""
    dtype: str | None = None
    """What the arm computed in: the spec's dtype resolved (``auto`` becomes ``bfloat16`` or
    ``float32``); absent for served arms and in comparisons written before it was recorded."""


class ArmDoc(Doc):
    """One arm of the comparison (the first is the reference)."""

    name: str
    """The arm's unique name in this comparison (``baseline:NAME`` for a saved baseline)."""
    kind: Literal["base", "prompt_only", "tuned"]
    """``base`` (plain weights), ``prompt_only`` (a system prompt) or ``tuned`` (an adapter)."""
    fingerprint: str | None = None
    """Hash of what the arm runs (weights, adapter, prompt, generation settings)."""
    spec: JSON | None = None
    """The arm's model spec, secrets redacted."""
    baseline_created: str | None = None
    """When the baseline this arm replays was saved (baseline arms only)."""
    role: Literal["reference", "candidate"]
    """Whether every delta is measured against this arm (``reference``) or it is measured (``candidate``)."""
    trust: JSON | None = None
    """This arm's trust findings (provenance, confounds, adapter effect, served probe)."""
    engine: ArmEngine | None = None
    """The engine that ran the arm (absent in comparisons written before engines were recorded)."""


class ArmScore(Doc):
    """One arm's headline score on one suite, failed samples excluded."""

    mean: float | None
    """Mean of the headline metric over the scored samples (None when none was scored)."""
    low: float | None
    """Lower end of the bootstrap interval of the mean."""
    high: float | None
    """Upper end of the bootstrap interval of the mean."""
    n: int
    """Samples scored."""
    errors: int = 0
    """Samples that failed (excluded, never counted as 0)."""
    excluded_reason: str | None = None
    """Why samples were excluded, in words, when the metric says."""


class SequentialStop(Doc):
    """Where a sequential compare stopped one (suite, candidate)."""

    used: int
    """Samples used when it stopped."""
    total: int
    """Samples in the suite."""
    reason: str
    """Why it stopped."""


class Delta(Doc):
    """A candidate's paired change against the reference on one suite, with its verdict."""

    arm: str
    """The candidate arm."""
    delta: float
    """Candidate minus reference, mean over paired samples."""
    low: float
    """Lower end of the interval of the change."""
    high: float
    """Upper end of the interval of the change."""
    p_value: float | None
    """Unadjusted p-value of the paired test."""
    p_holm: float | None = None
    """Holm-adjusted p-value over every candidate x suite test of the comparison."""
    test: str
    """The paired test (``mcnemar_exact``, ``cluster_sign_flip``, ``betting_confidence_sequence``, ...)."""
    interval: str | None = None
    """How the interval was built (``score_design_effect``, ``confidence_sequence``, ...)."""
    mde: float | None = None
    """Smallest change this design detects with 80% power."""
    required_n_for_min_effect: int | None = None
    """Samples needed to detect the minimum effect, when the suite is underpowered."""
    power_note: str = ""
    """A plain sentence on power when the verdict is inconclusive."""
    agreement: str | None = None
    """Set when the interval and the test disagree: how the verdict reads it."""
    verdict: Verdict
    """The verdict on this change."""
    n: int
    """Paired samples."""
    n_excluded: int | None = None
    """Samples left out because one arm failed them."""
    n_clusters: int | None = None
    """Clusters the samples fall in (when the suite has clusters)."""
    icc: float | None = None
    """Intra-cluster correlation of the paired differences."""
    design_effect: float | None = None
    """Variance inflation from clustering."""
    sampling_variance_share: float | None = None
    """Share of the variance due to repeated draws (samples drawn more than once)."""
    fail_to_pass: int | None = None
    """Samples failed by the reference and passed by the candidate (pass/fail metrics)."""
    pass_to_fail: int | None = None
    """Samples passed by the reference and failed by the candidate (pass/fail metrics)."""
    variance: JSON | None = None
    """The terms of the interval's variance, to recompute it."""
    holm_family: int | None = None
    """Tests in the Holm family (sequential deltas join it with their anytime-valid p-values)."""
    sequential: SequentialStop | None = None
    """Where a sequential compare stopped this delta (sequential compares only)."""


class Secondary(Doc):
    """A paired interval on a non-headline metric: exploratory, outside the Holm family and the gate."""

    metric: str
    """The metric."""
    arm: str
    """The candidate arm."""
    delta: float
    """Candidate minus reference."""
    low: float
    """Lower end of the interval."""
    high: float
    """Upper end of the interval."""
    p_value: float | None
    """Unadjusted p-value."""
    n: int
    """Paired samples."""
    exploratory: bool = True
    """Always true: not part of any verdict."""


class PairwiseArm(Doc):
    """One candidate's pairwise judgement against the reference (both orders)."""

    n: int
    """Samples judged."""
    errors: int
    """Samples the judge could not judge."""
    wins: int
    """Samples where the candidate won."""
    ties: int
    """Ties."""
    losses: int
    """Samples where the candidate lost."""
    win_rate: float | None
    """Wins over n."""
    tie_rate: float | None
    """Ties over n."""
    loss_rate: float | None
    """Losses over n."""
    position_bias_rate: float | None
    """Share of samples whose verdict changed with the order of the pair."""
    mean: float | None
    """Mean of +1 / 0 / -1."""
    low: float | None
    """Lower end of the mean's interval."""
    high: float | None
    """Upper end of the mean's interval."""
    win_rate_low: float | None
    """Lower end of the win rate's interval."""
    win_rate_high: float | None
    """Upper end of the win rate's interval."""
    usage: JSON
    """Judge calls, tokens and cost."""


class PairwiseResult(Doc):
    """A suite's pairwise judge results: the judge, the reference and one summary per candidate."""

    judge: JSON
    """The judge's backend, model and criteria."""
    reference: str
    """The reference arm."""
    arms: dict[str, PairwiseArm]
    """Candidate arm -> its pairwise summary."""
    notices: list[str] = []
    """What the judge client reported (retries, refusals)."""


class SuiteResult(Doc):
    """One suite of the comparison: each arm's score, each candidate's delta, secondary metrics."""

    name: str
    """The suite's name."""
    kind: str | None
    """``task``, ``regression``, ``general`` or ``lm-eval``."""
    version: str | None
    """The suite's version (every arm ran the same one)."""
    metric: str | None
    """The headline metric."""
    binary: bool
    """Whether the headline metric is pass/fail."""
    n: int
    """Samples in the suite."""
    scores: dict[str, ArmScore]
    """Arm -> its score."""
    deltas: list[Delta]
    """One per candidate that has paired samples."""
    other_metrics: dict[str, dict[str, float | None]]
    """Arm -> metric -> mean, every metric of the suite."""
    secondary: list[Secondary] = []
    """Paired intervals on the non-headline metrics."""
    n_clusters: int | None = None
    """Clusters in the suite, when it has clusters."""
    cluster_field: str | None = None
    """The sample field the clusters come from."""
    skipped: str | None = None
    """Why the suite was not run (then it has no scores or deltas)."""
    lm_eval: dict[str, JSON] | None = None
    """Arm -> how lm-eval was prompted and the lm_eval command giving the same numbers (lm-eval suites)."""
    leakage: JSON | None = None
    """Samples that also occur in the training data, with clean-subset scores."""
    pairwise: PairwiseResult | None = None
    """The pairwise judge's results (``--pairwise`` on a judged suite)."""


class Forgetting(Doc):
    """One candidate's forgetting verdict across the regression and general suites."""

    arm: str
    """The candidate arm."""
    verdict: ForgettingVerdict
    """The forgetting verdict."""
    suites: list[str]
    """The suites it rolls up."""
    worst_suite: str | None
    """The suite whose interval reaches lowest."""
    worst_delta: float | None
    """That suite's change."""
    worst_low: float | None = None
    """That suite's interval's lower end."""
    budget: float | None
    """The forgetting budget, when one was set."""
    text: str
    """The verdict in a sentence."""


class PromptOnly(Doc):
    """How much of the tuned arm's gain a system prompt recovers on one task suite (Fieller ratio)."""

    suite: str
    """The task suite."""
    prompt_arm: str
    """The prompt-only arm."""
    tuned_arm: str
    """The tuned arm."""
    method: str | None = None
    """How the ratio's interval is built (``fieller``; older documents do not say)."""
    defined: bool
    """False when the tuned arm shows no clear gain (no ratio to estimate)."""
    ratio: float | None
    """Prompt gain over tuned gain."""
    low: float | None
    """Lower end of the ratio's interval."""
    high: float | None
    """Upper end of the ratio's interval."""
    gain_tuned: float | None
    """Tuned minus base."""
    gain_prompt: float | None
    """Prompt-only minus base."""
    n: int | None = None
    """Samples."""
    n_clusters: int | None = None
    """Clusters."""
    needed_n: int | None = None
    """Samples that would decide the question, when undecided."""
    reason: str | None = None
    """Why the ratio is undefined."""
    conclusion: str
    """The answer in a sentence."""


class Flip(Doc):
    """A sample that passed on one of the reference and a candidate and failed on the other."""

    suite: str
    """The suite."""
    sample_id: str
    """The sample."""
    arm: str
    """The candidate arm."""
    direction: Literal["fail_to_pass", "pass_to_fail"]
    """Which way it flipped, from the reference to the candidate."""
    category: Any = ""
    """The sample's category."""
    input: Any = None
    """The sample's input (text or chat messages)."""
    target: Any = None
    """The sample's target."""
    reference_output: str | None = None
    """The reference's output."""
    candidate_output: str | None = None
    """The candidate's output."""
    reference_explanation: str | None = None
    """The scorer's explanation on the reference."""
    candidate_explanation: str | None = None
    """The scorer's explanation on the candidate."""


class SampleOutput(Doc):
    """One arm's output and headline score on one sample."""

    text: str | None = None
    """The output."""
    value: float | None = None
    """The headline metric's value."""
    passed: bool | None = None
    """Pass/fail, for pass/fail metrics."""
    explanation: str | None = None
    """The scorer's explanation."""
    error: str | None = None
    """Why the sample failed."""
    judge: JSON | None = None
    """The judge's transcript, for judged metrics."""
    pairwise: JSON | None = None
    """The pairwise judgement against the reference, both orders (``--pairwise``)."""


class SampleRow(Doc):
    """One sample of a suite with every arm's output."""

    id: str
    """The sample id."""
    input: Any = None
    """The input (text or chat messages)."""
    target: Any = None
    """The target."""
    category: Any = ""
    """The category."""
    outputs: dict[str, SampleOutput]
    """Arm -> its output."""


class GateRule(Doc):
    """One rule of the release gate and how it went."""

    name: str
    """The rule, in words."""
    suite: str | None = None
    """The suite it judges (None for rules across suites)."""
    passed: bool
    """Whether it passed."""
    message: str | None = None
    """What was measured against what."""


class GateResult(Doc):
    """The release gate applied to one candidate arm."""

    passed: bool
    """Whether every rule passed."""
    arm: str | None = None
    """The gated candidate arm."""
    rules: list[GateRule]
    """Each rule and how it went."""


class HistoryRow(Doc):
    """One arm's score on one suite in one earlier (or this) comparison of the history file."""

    date: str
    """When that comparison was made."""
    run: str | None = None
    """That comparison's name."""
    suite: str
    """The suite."""
    arm: str
    """The arm."""
    mean: float | None
    """Its score."""
    low: float | None = None
    """Lower end of the score's interval."""
    high: float | None = None
    """Upper end of the score's interval."""
    regression: bool = False
    """Whether that comparison's verdict for the arm was ``regressed``."""


class SequentialSuite(Doc):
    """One suite of a sequential compare: where it stopped and what it saved."""

    used: int
    """Samples used when it stopped."""
    total: int
    """Samples in the suite."""
    reason: str
    """Why it stopped."""
    role: Literal["task", "forgetting"]
    """Whether the suite must show a gain (task) or rule out a drop (forgetting)."""
    budget: float
    """The change it had to rule out or show."""
    generated: int
    """Generations made, all arms."""
    fixed_n_would_generate: int
    """Generations a fixed-n compare would make."""


class RoundSuite(Doc):
    """One suite's state after one round of a sequential compare."""

    used: int
    """Samples used so far."""
    settled: bool
    """Whether it stopped this round or earlier."""
    reason: str | None = None
    """Why it stopped, once settled."""
    intervals: dict[str, list[float]]
    """Candidate arm -> its confidence-sequence interval [low, high] so far."""


class Round(Doc):
    """One round of a sequential compare."""

    round: int
    """Round number, from 1."""
    suites: dict[str, RoundSuite]
    """Suite -> its state after this round (only suites still running)."""


class SequentialLog(Doc):
    """How a sequential compare ran: its method, each round, where each suite stopped."""

    method: str
    """The sequential method."""
    alpha: float
    """The comparison's error rate."""
    alpha_per_test: float
    """The level of each suite x candidate's early-stopping confidence sequence (its share of alpha)."""
    alpha_final: float | None = None
    """The level of the fixed-n interval at the final look of a suite that ran out (the rest of alpha)."""
    family: int | None = None
    """Tests an early "improvement/regression shown" is divided over (candidates x suites)."""
    round_size: int
    """Samples added per round."""
    generate_ahead: int = 0
    """Samples per suite a local arm generated at once, ahead of the looks (0: each round as it came)."""
    rounds: list[Round]
    """The round log."""
    suites: dict[str, SequentialSuite]
    """Suite -> where it stopped."""
    fixed_n_suites: list[str] = []
    """Suites run at fixed n (no confidence sequence applies)."""


class MergeParity(Doc):
    """How often a merged model disagrees with its adapter on one suite (``merge-check``)."""

    suite: str
    """The suite."""
    metric: str | None
    """The headline metric."""
    n: int
    """Samples compared."""
    flips: int
    """Samples whose score differs."""
    flip_rate: float | None
    """flips over n."""
    text_diff_rate: float | None
    """Share of samples whose output text differs."""
    delta: float
    """Merged minus adapter."""
    low: float
    """Lower end of the interval."""
    high: float
    """Upper end of the interval."""
    verdict: Verdict
    """The paired verdict."""


class Unusable(Doc):
    """A suite and arm whose run left nothing to conclude from (too many failed samples)."""

    suite: str
    """The suite."""
    arm: str
    """The arm."""
    failed: int
    """Samples that failed."""
    total: int
    """Samples run."""
    message: str
    """What failed, with the most common errors."""


class ArmMetadata(Doc):
    """What the comparison records about how an arm ran."""

    fingerprint: str | None = None
    """The arm's fingerprint."""
    generation: JSON | None = None
    """Its generation settings."""
    adapter_effect: JSON | None = None
    """Whether the adapter changes the logits (tuned arms)."""
    served_probe: JSON | None = None
    """Whether a served model answers differently from its base (served arms)."""


class Metadata(Doc):
    """How the comparison was made: versions, timings, notices, statistical options, arms."""

    versions: dict[str, str | None] = {}
    """Package versions."""
    timings: JSON = {}
    """Seconds per arm (``arms_s``) and in all (``total_s``)."""
    notices: list[str] = []
    """Warnings a reader must see."""
    options: JSON = {}
    """The statistical settings (confidence, resamples, seed, minimum effect, forgetting budget)."""
    arms: dict[str, ArmMetadata] = {}
    """Arm -> how it ran."""
    unusable: list[Unusable] = []
    """Suite/arm pairs without a usable result."""


class Comparison(Doc):
    """comparison.json: arms, per-suite results, forgetting, prompt-only, flips, samples, gate, metadata."""

    schema_version: int
    """The version of this shape: 2 for documents this evalkit writes, 1 for older ones (still read)."""
    name: str
    """The comparison's name."""
    created: str
    """When it was made (ISO 8601, UTC)."""
    arms: list[ArmDoc]
    """The arms; the first is the reference."""
    suites: list[SuiteResult]
    """One per suite, skipped suites included."""
    forgetting: list[Forgetting] = []
    """One forgetting verdict per candidate."""
    prompt_only: list[PromptOnly] = []
    """Prompt-only share per task suite x prompt arm x tuned arm."""
    flips: list[Flip] = []
    """Samples that flipped between the reference and a candidate."""
    samples: dict[str, list[SampleRow]] = {}
    """Suite -> its samples with every arm's output."""
    checkpoints: list[JSON] | None = None
    """Per checkpoint: task gain, forgetting, Pareto front (``train --compare`` with checkpoints)."""
    history: list[HistoryRow] | None = None
    """The score history, with this comparison appended (``--history``)."""
    gate: GateResult | None = None
    """The release gate's result (``--gate``)."""
    metadata: Metadata = Metadata()
    """How the comparison was made."""
    sequential: SequentialLog | None = None
    """The round log of a sequential compare."""
    trust: JSON | None = None
    """Trust findings across arms (training-data leakage)."""
    pairwise: dict[str, PairwiseResult] | None = None
    """Pairwise results of suites absent from ``suites`` (kept, not dropped)."""
    merge_check: list[MergeParity] | None = None
    """Merged-model parity per suite (``merge-check``)."""

    @property
    def reference(self) -> str | None:
        """The reference arm's name."""
        ref = next((a for a in self.arms if a.role == "reference"), self.arms[0] if self.arms else None)
        return ref.name if ref else None

    @property
    def candidates(self) -> list[str]:
        """The candidate arms' names, in comparison order."""
        return [a.name for a in self.arms if a.name != self.reference]

    def suite(self, name: str) -> SuiteResult | None:
        """The suite called ``name``, or None."""
        return next((s for s in self.suites if s.name == name), None)

    def to_doc(self) -> dict[str, Any]:
        """The JSON document: the fields the writer set, in the order of this model."""
        return self.model_dump(mode="json", exclude_unset=True)


def validate_written(doc: dict | Comparison) -> Comparison:
    """The typed comparison for a document evalkit is about to write; a wrong shape is a bug, so it raises.

    It is stamped with the current schema version; unknown keys and wrong types are errors.
    """
    data = doc.to_doc() if isinstance(doc, Comparison) else doc
    return Comparison.model_validate({**data, "schema_version": COMPARISON_SCHEMA_VERSION})


def read_comparison(data: Any, source: str = "comparison", cls: type[Comparison] = Comparison) -> Comparison:
    """The typed comparison for a document read from disk, of any version evalkit wrote.

    A document that is not a comparison, is malformed or is newer than this evalkit is a
    :class:`DataError` naming ``source`` and the first problem.
    """
    if not isinstance(data, dict) or not isinstance(data.get("suites"), list):
        raise DataError(f"{source}: not an evalkit comparison (no 'suites' list).",
                        hint="give the comparison.json written by `evalkit compare`")
    version = data.get("schema_version")
    if isinstance(version, int) and version > COMPARISON_SCHEMA_VERSION:
        raise DataError(
            f"{source}: written by a newer evalkit (schema_version {version}; this evalkit reads "
            f"{', '.join(map(str, READABLE_VERSIONS))}).",
            hint="upgrade evalkit to read it",
        )
    if version not in READABLE_VERSIONS:
        raise DataError(f"{source}: unknown comparison schema_version {version!r} "
                        f"(this evalkit reads {', '.join(map(str, READABLE_VERSIONS))}).",
                        hint="give the comparison.json written by `evalkit compare`")
    try:
        # Keys this evalkit does not know are ignored (older writers' dropped fields, newer additions);
        # fields older writers did not write take their defaults.
        return cls.model_validate(data, context={"lenient": True})
    except ValidationError as exc:
        raise DataError(f"{source}: not a valid comparison (schema_version {version}): {first_problem(exc)}",
                        hint="give the comparison.json written by `evalkit compare`, unedited") from None


def first_problem(exc: ValidationError) -> str:
    """The first validation error as ``where: what`` (and how many more there are)."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    more = f" ({exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def as_comparison(doc: dict | Comparison, source: str = "comparison") -> Comparison:
    """``doc`` typed: a :class:`Comparison` as it is, a dict read as :func:`read_comparison` reads one."""
    return doc if isinstance(doc, Comparison) else read_comparison(doc, source)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the documents evalkit writes (the current version)."""
    schema = Comparison.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"evalkit/comparison.schema.json#v{COMPARISON_SCHEMA_VERSION}", **schema}


def schema_text() -> str:
    """The committed JSON Schema file's exact text."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


SCHEMA_FILE = Path(__file__).with_name("comparison.schema.json")


def write_schema_file(path: Path = SCHEMA_FILE) -> Path:
    """(Re)write the committed JSON Schema file from the models; returns its path."""
    path.write_text(schema_text(), encoding="utf-8")
    return path


if __name__ == "__main__":
    write_schema_file()
