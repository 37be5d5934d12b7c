"""Judge budget, token/cost accounting and the run's ``judge_usage.json``.

Every judged score carries its own usage in ``details["judge"]["usage"]``
(calls made, cached replies reused, input/output tokens, cost), so the run's
``scores.jsonl`` is the record. :func:`write_judge_usage` totals it per
scorer into ``<run dir>/judge_usage.json``. Prices come from the scorer's
``price`` option, else from ``evalkit_home()/judge_prices.yaml`` (``model:
{input_per_mtok: .., output_per_mtok: ..}``); without a price the cost is
``null``, never guessed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evalkit.config import parse_yaml
from evalkit.home import evalkit_home
from evalkit.judge.config import Price

PRICES_FILE = "judge_prices.yaml"
USAGE_FILE = "judge_usage.json"


def resolve_price(model: str, configured: Price | None) -> Price | None:
    """The configured price, else the model's entry in ``judge_prices.yaml``, else None."""
    if configured is not None:
        return configured
    path = evalkit_home() / PRICES_FILE
    if not path.is_file():
        return None
    try:
        table = parse_yaml(path.read_text(encoding="utf-8-sig")) or {}
        entry = table.get(model) if isinstance(table, dict) else None
        return Price.model_validate(entry) if entry else None
    except (yaml.YAMLError, ValueError):
        return None


def cost_usd(price: Price | None, input_tokens: int, output_tokens: int) -> float | None:
    """Dollar cost of the tokens at ``price`` (None when unpriced)."""
    if price is None:
        return None
    return round(input_tokens / 1e6 * price.input_per_mtok + output_tokens / 1e6 * price.output_per_mtok, 6)


class Budget:
    """Per-run limits on judge calls and tokens, enforced before each call (thread-safe).

    A call reserves one call and an estimate of its tokens (prompt chars / 3
    plus max_tokens); :meth:`settle` replaces the estimate with the real count.
    When a limit would be passed the call is refused and becomes a judge error.
    """

    def __init__(self, max_calls: int | None, max_total_tokens: int | None):
        self.max_calls = max_calls
        self.max_total_tokens = max_total_tokens
        self.calls = 0
        self.tokens = 0
        self._lock = threading.Lock()

    def reserve(self, estimated_tokens: int) -> str | None:
        """Reserve one call; returns None on success or the reason the budget refuses it."""
        with self._lock:
            if self.max_calls is not None and self.calls >= self.max_calls:
                return f"judge budget exhausted: max_calls {self.max_calls} reached"
            if self.max_total_tokens is not None and self.tokens + estimated_tokens > self.max_total_tokens:
                return (f"judge budget exhausted: max_total_tokens {self.max_total_tokens} reached "
                        f"({self.tokens} used, this call may need ~{estimated_tokens})")
            self.calls += 1
            self.tokens += estimated_tokens
            return None

    def settle(self, estimated_tokens: int, actual_tokens: int) -> None:
        """Swap a reservation's estimate for the tokens the call really used."""
        with self._lock:
            self.tokens += actual_tokens - estimated_tokens


@dataclass
class UsageMeter:
    """Live totals for one judge client (thread-safe)."""

    backend: str
    model: str
    price: Price | None = None
    calls: int = 0
    attempts: int = 0
    retries: int = 0
    cached_calls: int = 0
    refused_calls: int = 0
    failed_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        """Add to any of the counters."""
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def snapshot(self) -> dict[str, Any]:
        """The totals as a plain dict, with cost."""
        with self._lock:
            return {"backend": self.backend, "model": self.model, "calls": self.calls,
                    "attempts": self.attempts, "retries": self.retries, "cached_calls": self.cached_calls,
                    "refused_calls": self.refused_calls, "failed_calls": self.failed_calls,
                    "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                    "cost_usd": cost_usd(self.price, self.input_tokens, self.output_tokens),
                    "price": self.price.model_dump() if self.price else None}


def summarise_judge_usage(score_rows: list[dict]) -> dict[str, dict]:
    """Per scorer key: judged samples, judge errors, calls, cached calls, tokens, cost, self-agreement."""
    out: dict[str, dict] = {}
    for row in score_rows:
        judge = (row.get("details") or {}).get("judge")
        if not isinstance(judge, dict) or not isinstance(judge.get("usage"), dict):
            continue
        usage = judge["usage"]
        entry = out.setdefault(row["scorer"], {
            "backend": judge.get("backend"), "model": judge.get("model"), "samples": 0, "judge_errors": 0,
            "calls": 0, "cached_calls": 0, "retries": 0, "input_tokens": 0, "output_tokens": 0,
            "cost_usd": 0.0, "unpriced_calls": 0, "agreement": None, "notices": [], "_agree": []})
        entry["samples"] += 1
        entry["judge_errors"] += 1 if row.get("error") else 0
        for name in ("calls", "cached_calls", "retries", "input_tokens", "output_tokens"):
            entry[name] += int(usage.get(name) or 0)
        if usage.get("cost_usd") is None:
            entry["unpriced_calls"] += int(usage.get("calls") or 0)
        else:
            entry["cost_usd"] += float(usage["cost_usd"])
        for notice in judge.get("notices") or []:
            if notice not in entry["notices"]:
                entry["notices"].append(notice)
        if judge.get("agreement") is not None:
            entry["_agree"].append(float(judge["agreement"]))
    for entry in out.values():
        agree = entry.pop("_agree")
        entry["agreement"] = sum(agree) / len(agree) if agree else None
        entry["cost_usd"] = None if entry["unpriced_calls"] else round(entry["cost_usd"], 6)
    return out


def write_judge_usage(run_dir: str | Path, score_rows: list[dict] | None = None) -> Path | None:
    """Write ``judge_usage.json`` into a run directory from its scores; None when nothing was judged."""
    from evalkit.runner.store import read_jsonl_tolerant, write_json_atomic

    run_dir = Path(run_dir)
    rows = score_rows if score_rows is not None else list(read_jsonl_tolerant(run_dir / "scores.jsonl"))
    summary = summarise_judge_usage(rows)
    if not summary:
        return None
    path = run_dir / USAGE_FILE
    write_json_atomic(path, {"scorers": summary})
    return path
