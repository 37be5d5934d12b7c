"""Judge configuration: the options a suite gives a judge scorer, validated strictly.

A judge scorer's options (``scorers: [{name: judge_rubric, options: {...}}]``)
are validated by the models here. The scorer factories take ``**options`` but
advertise these fields as their signature (:func:`options_signature`), so the
scorer registry's unknown-option check and misspelling hints work unchanged.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_core import PydanticUndefined

from evalkit.config import StrictModel
from evalkit.errors import ConfigError

Backend = Literal["anthropic", "openai-compatible"]
ANTHROPIC_KEY_ENV = "ANTHROPIC_API_KEY"


class Price(StrictModel):
    """USD per million tokens, for cost accounting."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


class JudgeConfig(StrictModel):
    """Which judge to call and how: backend, model, limits, retries, budget, cache.

    ``max_calls`` / ``max_total_tokens`` bound one built scorer (one suite load,
    i.e. one ``evalkit run`` or every arm of one ``evalkit compare``); calls past
    the budget become judge errors, never zeros.
    """

    backend: Backend
    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key_env: str | None = None
    max_tokens: int = Field(default=300, ge=8, le=8192)
    temperature: float | None = Field(default=0.0, ge=0.0, le=2.0)
    max_concurrency: int = Field(default=4, ge=1, le=64)
    max_calls: int | None = Field(default=None, ge=0)
    max_total_tokens: int | None = Field(default=None, ge=0)
    timeout: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=4, ge=0, le=10)
    retry_base_delay: float = Field(default=1.0, ge=0)
    retry_max_delay: float = Field(default=60.0, gt=0)
    price: Price | None = None
    cache: bool = True

    @model_validator(mode="after")
    def _check_backend(self) -> JudgeConfig:
        if self.backend == "anthropic" and self.api_key_env not in (None, ANTHROPIC_KEY_ENV):
            raise ValueError(f"the anthropic backend reads its key from {ANTHROPIC_KEY_ENV} only; "
                             "remove 'api_key_env'")
        if self.backend == "openai-compatible" and not self.base_url:
            raise ValueError("the openai-compatible backend needs 'base_url' (e.g. http://127.0.0.1:8000/v1)")
        return self

    @property
    def key_env(self) -> str | None:
        """The environment variable holding the API key (None: no key is sent)."""
        return ANTHROPIC_KEY_ENV if self.backend == "anthropic" else self.api_key_env


class RubricOptions(JudgeConfig):
    """``judge_rubric``: one answer scored against ``rubric`` on the integer ``scale``."""

    rubric: str = Field(min_length=1)
    scale: tuple[int, int] = (1, 10)
    pass_threshold: float | None = None
    samples: int = Field(default=1, ge=1, le=10)

    @model_validator(mode="after")
    def _check_scale(self) -> RubricOptions:
        lo, hi = self.scale
        if lo >= hi:
            raise ValueError(f"'scale' must be [low, high] with low < high, got {list(self.scale)}")
        if self.pass_threshold is not None and not lo <= self.pass_threshold <= hi:
            raise ValueError(f"'pass_threshold' {self.pass_threshold:g} lies outside the scale {lo}-{hi}")
        return self


class ReferenceOptions(JudgeConfig):
    """``judge_reference``: an answer judged correct/incorrect against ``sample.target``."""

    criteria: str | None = None
    samples: int = Field(default=1, ge=1, le=10)


DEFAULT_PAIRWISE_CRITERIA = (
    "Prefer the reply that better serves the user: correct, helpful, polite and concise. "
    "Length alone is not a merit."
)


class PairwiseConfig(JudgeConfig):
    """Pairwise comparison of a candidate arm's output with the reference arm's, asked in both orders."""

    criteria: str = Field(default=DEFAULT_PAIRWISE_CRITERIA, min_length=1)


def validate_options(model: type[StrictModel], options: dict[str, Any], what: str) -> Any:
    """Validate ``options`` as ``model``, turning pydantic errors into one ConfigError naming each field."""
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err.get("loc", ())) or "options"
            msg = "required option is missing" if err.get("type") == "missing" else err.get("msg", "invalid")
            msg = msg.removeprefix("Value error, ")
            problems.append(f"{field}: {msg}")
        raise ConfigError(f"{what}: invalid judge options: " + "; ".join(problems) + ".") from None


def options_signature(model: type[StrictModel], *, suite_dir: bool = True) -> inspect.Signature:
    """A keyword-only signature listing ``model``'s fields (and ``suite_dir``) for the scorer registry."""
    params = []
    for name, field in model.model_fields.items():
        default = inspect.Parameter.empty if field.default is PydanticUndefined else field.default
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default))
    if suite_dir:
        params.append(inspect.Parameter("suite_dir", inspect.Parameter.KEYWORD_ONLY, default=None))
    return inspect.Signature(params)
