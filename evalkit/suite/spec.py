"""`SuiteSpec`: the YAML that describes one evaluation suite."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, model_validator

from evalkit.config import StrictModel

#: The one placeholder a prompt template has: replaced by the sample's input text.
TEMPLATE_PLACEHOLDER = "{input}"
#: What a suite is for: the fine-tune's own task, or a check that the base's skills survived.
SuiteRole = Literal["task", "regression", "general"]
#: What runs it: evalkit's own generate-and-score loop, or lm-evaluation-harness tasks.
SuiteEngine = Literal["native", "lm-eval"]
#: Before role and engine were apart, ``kind: lm-eval`` meant this role with the lm-eval engine.
LEGACY_LM_EVAL_ROLE = "general"
#: Suite kinds (as run files and comparisons record them, see ``SuiteSpec.label``) that measure forgetting.
FORGETTING_KINDS = ("regression", "general", "lm-eval")


class HubData(StrictModel):
    """A `datasets` source: ``load_dataset(path, name, split=split)``."""

    hub: str
    name: str | None = None
    split: str = "test"


class FieldMap(StrictModel):
    """Which data columns hold the id, input, target and metadata."""

    id: str = "id"
    input: str = "input"
    target: str = "target"
    metadata: list[str] | None = None


class ScorerConfig(StrictModel):
    """One scorer applied to every sample; ``options`` go to its factory."""

    name: str
    id: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        """The name under which this scorer's results are stored."""
        return self.id or self.name


class LmEvalConfig(StrictModel):
    """lm-evaluation-harness tasks run by a suite with ``engine: lm-eval``."""

    tasks: list[str]
    num_fewshot: int | None = None
    limit: int | None = None
    include_path: str | None = None
    batch_size: int = 16
    metric: str = "acc"
    # Compute a batch's common prompt prefix (system prompt, chat header) once; false = the lm_eval CLI's
    # numbers to the last digit (see evalkit.lmeval.shared_prefix).
    share_prefix: bool = True


class GenerationOverrides(StrictModel):
    """Suite-level decoding settings that override the model spec's."""

    max_new_tokens: int | None = Field(None, ge=1, le=32768)
    stop: list[str] | None = None


class SuiteSpec(StrictModel):
    """An evaluation suite: data, prompt template, scorers and the headline metric."""

    name: str
    version: str = "1"
    kind: SuiteRole = "task"  # the suite's role
    engine: SuiteEngine = "native"
    description: str = ""
    data: str | HubData | None = None
    format: Literal["auto", "jsonl", "json", "csv"] = "auto"
    fields: FieldMap = Field(default_factory=FieldMap)
    prompt_template: str | None = None
    generation: GenerationOverrides = Field(default_factory=GenerationOverrides)
    scorers: list[ScorerConfig] = Field(default_factory=list)
    metric: str | None = None
    category_field: str | None = None
    # Metadata key that samples share (template, passage, source document, conversation): paired
    # inference resamples and permutes whole clusters. None: every sample is its own cluster.
    cluster_field: str | None = None
    # Seeded draws per item at temperature > 0; arms are paired on each item's mean over its draws.
    samples_per_item: int | None = Field(None, ge=1, le=64)
    lm_eval: LmEvalConfig | None = None
    provenance: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _role_and_engine(cls, data: Any) -> Any:
        """``kind: lm-eval`` loads as role general, engine lm-eval; an ``lm_eval:`` section implies it."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("kind") == "lm-eval":
            data["kind"] = LEGACY_LM_EVAL_ROLE
            data.setdefault("engine", "lm-eval")
        if data.get("lm_eval") is not None:
            data.setdefault("engine", "lm-eval")
        return data

    @model_validator(mode="after")
    def _check_consistency(self) -> SuiteSpec:
        if self.engine == "lm-eval":
            if self.lm_eval is None:
                raise ValueError("a suite with engine 'lm-eval' needs an 'lm_eval:' section with tasks")
            return self
        if self.lm_eval is not None:
            raise ValueError("an 'lm_eval:' section needs engine: lm-eval (or leave engine out)")
        if self.data is None:
            raise ValueError("'data' is required (a file next to suite.yaml or {hub: ...})")
        if not self.scorers:
            raise ValueError("'scorers' must name at least one scorer")
        keys = [s.key for s in self.scorers]
        dupes = {k for k in keys if keys.count(k) > 1}
        if dupes:
            raise ValueError(f"scorer keys must be unique; give an 'id' to repeated {sorted(dupes)}")
        if self.metric is not None and self.metric not in keys:
            raise ValueError(f"metric {self.metric!r} is not one of the scorers {keys}")
        if self.prompt_template is not None and TEMPLATE_PLACEHOLDER not in self.prompt_template:
            # Without it every sample would get the same prompt, and every arm the same meaningless score.
            others = sorted(set(re.findall(r"\{[^{}\s]*\}", self.prompt_template)))
            found = f" (it has {', '.join(others)})" if others else ""
            raise ValueError(
                f"prompt_template never uses the sample's text: it has no {TEMPLATE_PLACEHOLDER} "
                f"placeholder{found}; the placeholder available is {TEMPLATE_PLACEHOLDER} (the row's "
                f"'{self.fields.input}' column)"
            )
        return self

    @property
    def label(self) -> str:
        """The suite's kind as run files, comparisons and listings record it.

        Its role, except ``lm-eval`` for a general suite run by lm-eval: what ``kind: lm-eval``
        always meant, so runs and baselines made before role and engine were apart still match.
        """
        return "lm-eval" if self.engine == "lm-eval" and self.kind == LEGACY_LM_EVAL_ROLE else self.kind

    @property
    def primary_metric(self) -> str:
        """The scorer key whose mean is the suite's headline score."""
        if self.engine == "lm-eval":
            return self.lm_eval.metric  # type: ignore[union-attr]
        return self.metric or self.scorers[0].key
