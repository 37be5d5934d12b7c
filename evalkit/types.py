"""Core data types shared by every stage: samples, generations, scores.

They are small, frozen and serialise to plain dicts (one JSON line each), so
every stage can write its output to disk and a later stage can read it back
without the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Union

Message = dict[str, str]
SampleInput = Union[str, list[Message]]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Sample:
    """One evaluation item. ``input`` is plain text or a list of chat messages."""

    id: str
    input: SampleInput
    target: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def is_chat(self) -> bool:
        """True when the input is a list of chat messages."""
        return isinstance(self.input, list)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for JSON lines."""
        return asdict(self)


@dataclass(frozen=True)
class Generation:
    """What a model produced for one sample.

    ``error`` is set (and ``text`` empty) when the backend failed for this
    sample; such samples are excluded from metrics, never scored as zero.
    ``draw`` is the index of this generation among the item's repeated draws
    (0 for the only draw of a k = 1 run).
    """

    sample_id: str
    text: str
    prompt_tokens: int = 0
    new_tokens: int = 0
    latency_s: float = 0.0
    error: str | None = None
    cached: bool = False
    draw: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for JSON lines (``draw`` left out when 0, as k = 1 runs always wrote them)."""
        data = asdict(self)
        if not self.draw:
            del data["draw"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Generation:
        """Inverse of :meth:`to_dict`; ignores unknown keys from newer writers."""
        names = cls.__dataclass_fields__.keys()
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Score:
    """The verdict of one scorer on one sample.

    ``value`` is in the scorer's own scale (1.0/0.0 for pass/fail scorers);
    ``passed`` is None for purely continuous scorers; ``error`` marks a score
    that could not be computed (e.g. a judge that did not answer), which is
    excluded from metrics.
    """

    value: float | None
    passed: bool | None = None
    explanation: str = ""
    error: str | None = None
    details: dict[str, Any] | None = None

    @classmethod
    def of_bool(cls, ok: bool, explanation: str = "") -> Score:
        """A pass/fail score with value 1.0 or 0.0."""
        return cls(value=1.0 if ok else 0.0, passed=bool(ok), explanation=explanation)

    @classmethod
    def failed(cls, error: str) -> Score:
        """A score that could not be computed; excluded from metrics."""
        return cls(value=None, passed=None, explanation=error, error=error)

    def fields(self) -> dict[str, Any]:
        """The score as the plain dict scores.jsonl rows (and the score cache) hold."""
        return {"value": self.value, "passed": self.passed, "explanation": self.explanation,
                "error": self.error, "details": self.details}
