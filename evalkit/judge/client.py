"""The judge client: cache, budget, retries with backoff, concurrency and usage around one backend.

:meth:`JudgeClient.judge_many` runs requests on a thread pool of
``max_concurrency`` workers. Each request is answered from the cache when
possible; otherwise it takes one call from the budget and is sent with up to
``max_retries`` retries on transient failures (429, 5xx, timeouts,
connection errors). Waits grow exponentially from ``retry_base_delay`` with
jitter, and a server's ``retry-after`` is honoured (the wait is never shorter);
a server asking for more than ``retry_max_delay`` ends the call as an error.
Every failure is a :class:`JudgeOutcome` with ``error`` set, never an exception.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from evalkit.judge.backends import Backend, JudgeCallError, JudgeReply, JudgeRequest, make_backend
from evalkit.judge.cache import CachedReply, CacheKey, JudgeCache
from evalkit.judge.config import JudgeConfig
from evalkit.judge.usage import Budget, UsageMeter, cost_usd, resolve_price


@dataclass(frozen=True)
class JudgeOutcome:
    """What one judge request produced: the reply text or an error, with its cost."""

    request: JudgeRequest
    text: str | None = None
    error: str | None = None
    cached: bool = False
    calls: int = 0
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


class JudgeClient:
    """A configured judge: backend + cache + budget + retry policy + usage meter."""

    def __init__(self, config: JudgeConfig, backend: Backend, *, cache_salt: str = "",
                 extra_params: dict[str, Any] | None = None, cache: JudgeCache | None = None):
        self.config = config
        self.backend = backend
        self.cache_salt = cache_salt
        self.extra_params = dict(extra_params or {})
        self._cache = cache
        self._cache_opened = cache is not None
        self._cache_lock = threading.Lock()  # judge threads reach the lazy open together
        self.budget = Budget(config.max_calls, config.max_total_tokens)
        self.usage = UsageMeter(backend=config.backend, model=config.model,
                                price=resolve_price(config.model, config.price))
        self._rng = random.Random()

    @classmethod
    def from_config(cls, config: JudgeConfig, *, cache_salt: str = "",
                    extra_params: dict[str, Any] | None = None) -> JudgeClient:
        """Build backend and client; raises SuiteSkipped when the backend's key is missing."""
        return cls(config, make_backend(config), cache_salt=cache_salt, extra_params=extra_params)

    @property
    def cache(self) -> JudgeCache | None:
        """The cache (opened on first use), or None when ``cache: false``."""
        if not self.config.cache:
            return None
        with self._cache_lock:
            if not self._cache_opened:
                self._cache = JudgeCache.open_default()
                self._cache_opened = True
        return self._cache

    @property
    def notices(self) -> list[str]:
        """Things the run should show (e.g. a model that rejected ``temperature``)."""
        return list(self.backend.notices)

    def cost(self, input_tokens: int, output_tokens: int) -> float | None:
        """Cost of tokens at this judge's price (None when unpriced)."""
        return cost_usd(self.usage.price, input_tokens, output_tokens)

    def cache_key(self, request: JudgeRequest, draw: int = 0) -> CacheKey:
        """The cache key of ``request`` (``draw`` separates repeated self-agreement samples)."""
        params = {"max_tokens": self.config.max_tokens, "temperature": self.config.temperature,
                  "draw": draw, **self.extra_params}
        return CacheKey.build(self.config.backend, self.config.model, self.cache_salt,
                              request.system, request.user, params)

    def judge_many(self, requests: list[JudgeRequest], draws: list[int] | None = None) -> list[JudgeOutcome]:
        """Judge every request (in order), ``max_concurrency`` at a time."""
        draws = draws or [0] * len(requests)
        if not requests:
            return []
        workers = min(self.config.max_concurrency, len(requests))
        if workers == 1:
            return [self.judge(r, d) for r, d in zip(requests, draws)]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="judge") as pool:
            return list(pool.map(self.judge, requests, draws))

    def judge(self, request: JudgeRequest, draw: int = 0) -> JudgeOutcome:
        """Judge one request: cache, else budget, else call with retries. Never raises."""
        try:
            return self._judge(request, draw)
        except Exception as exc:  # noqa: BLE001 - one broken call must not lose the run
            self.usage.add(failed_calls=1)
            message = self.backend.redact(f"judge error: {type(exc).__name__}: {exc}")
            return JudgeOutcome(request, error=message)

    def _judge(self, request: JudgeRequest, draw: int) -> JudgeOutcome:
        cache = self.cache
        key = self.cache_key(request, draw) if cache is not None else None
        if cache is not None and key is not None:
            hit = cache.get(key)
            if hit is not None:
                self.usage.add(cached_calls=1)
                return JudgeOutcome(request, text=hit.reply, cached=True)
        estimate = (len(request.system) + len(request.user)) // 3 + self.config.max_tokens
        refusal = self.budget.reserve(estimate)
        if refusal is not None:
            self.usage.add(refused_calls=1)
            return JudgeOutcome(request, error=refusal)
        self.usage.add(calls=1)
        reply, retries, error = self._call_with_retries(request)
        if reply is None:
            self.budget.settle(estimate, 0)
            self.usage.add(failed_calls=1)
            return JudgeOutcome(request, error=f"judge error: {error}", calls=1, retries=retries)
        used = reply.input_tokens + reply.output_tokens
        self.budget.settle(estimate, used)
        self.usage.add(input_tokens=reply.input_tokens, output_tokens=reply.output_tokens)
        if cache is not None and key is not None:
            cache.put(key, CachedReply(reply.text, reply.input_tokens, reply.output_tokens))
        return JudgeOutcome(request, text=reply.text, calls=1, retries=retries,
                            input_tokens=reply.input_tokens, output_tokens=reply.output_tokens)

    def _call_with_retries(self, request: JudgeRequest) -> tuple[JudgeReply | None, int, str | None]:
        cfg = self.config
        for attempt in range(cfg.max_retries + 1):
            self.usage.add(attempts=1)
            try:
                return self.backend.complete(request), attempt, None
            except JudgeCallError as exc:
                message = self.backend.redact(exc.message)
                if not exc.transient:
                    return None, attempt, message
                if attempt == cfg.max_retries:
                    return None, attempt, f"{message} (gave up after {attempt + 1} attempts)"
                if exc.retry_after is not None and exc.retry_after > cfg.retry_max_delay:
                    return None, attempt, (f"{message}; the server asked to wait {exc.retry_after:g}s, "
                                           f"more than retry_max_delay {cfg.retry_max_delay:g}s")
                self.usage.add(retries=1)
                time.sleep(self.backoff(attempt, exc.retry_after))
        return None, cfg.max_retries, "unreachable"

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``attempt + 1``: jittered exponential, at least ``retry_after``."""
        cfg = self.config
        ceiling = min(cfg.retry_max_delay, cfg.retry_base_delay * (2 ** attempt))
        delay = ceiling * (0.5 + 0.5 * self._rng.random())
        if retry_after is not None:
            delay = max(delay, retry_after + 0.05 * self._rng.random())
        return delay
