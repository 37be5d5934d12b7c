"""`ModelSpec`: which model to evaluate and how to prompt and decode it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, ValidationError, field_validator

from evalkit.config import StrictModel, load_config, locate
from evalkit.errors import ConfigError

EMBEDDED_PREFIX = "evalkit:"
DEFAULT_BASE = "evalkit:smollm2-135m-instruct"
#: Settings a candidate arm may declare as meant to differ from the reference (see evalkit.trust.confounds).
Setting = Literal["backend", "base", "adapter", "chat_template", "system_prompt", "dtype", "quantization",
                  "temperature", "top_p", "seed", "stop", "max_new_tokens"]


#: Compute dtypes of the model's weights and linear layers (``auto``: bfloat16 where the hardware has it).
Dtype = Literal["auto", "float32", "bfloat16", "float16"]
DTYPES: tuple[str, ...] = get_args(Dtype)


class GenerationConfig(StrictModel):
    """Decoding settings; greedy when temperature is 0."""

    max_new_tokens: int = Field(128, ge=1, le=32768)
    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int = 0
    stop: list[str] = Field(default_factory=list)
    # Seeded draws per item (temperature > 0 only); not a decoding setting, so never part of a cache key.
    samples_per_item: int | None = Field(None, ge=1, le=64)

    def decoding(self) -> dict:
        """What decides one generation (all but ``samples_per_item``): for cache keys and fingerprints."""
        return self.model_dump(exclude={"samples_per_item"})

    def merged(self, **overrides) -> GenerationConfig:
        """A copy with the non-None ``overrides`` applied (suite-level settings)."""
        data = self.model_dump()
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return GenerationConfig.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"invalid decoding settings after the suite's overrides: {problems}.") from None


#: LoRA ranks vLLM can reserve room for (``max_lora_rank``).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


class VLLMOptions(StrictModel):
    """Engine settings of an in-process vLLM arm (``backend: vllm``, or ``auto`` when it picks vLLM).

    The precision is the spec's ``dtype``. ``max_lora_rank`` defaults to the
    smallest rank vLLM accepts that fits every adapter sharing the engine.
    """

    max_model_len: int | None = Field(None, ge=16)
    gpu_memory_utilization: float = Field(0.9, gt=0.0, le=1.0)
    tensor_parallel_size: int = Field(1, ge=1)
    data_parallel_size: int = Field(1, ge=1)
    max_lora_rank: int | None = None
    enable_prefix_caching: bool = True
    # skip torch.compile and CUDA graphs: a faster start, slower steps (small models, CPUs, tests)
    enforce_eager: bool = False

    @field_validator("max_lora_rank")
    @classmethod
    def _known_rank(cls, value: int | None) -> int | None:
        if value is not None and value not in VLLM_LORA_RANKS:
            raise ValueError(f"vLLM accepts max_lora_rank {', '.join(map(str, VLLM_LORA_RANKS))}")
        return value

    def engine_key(self) -> dict:
        """The options that decide the engine's numbers, for fingerprints (not its memory share)."""
        return self.model_dump(include={"max_model_len", "tensor_parallel_size", "enable_prefix_caching"})


class ModelSpec(StrictModel):
    """A model arm: base weights, optional adapter, prompting and decoding.

    ``base`` is a hub id, a local directory, or ``evalkit:<name>`` for an
    embedded model. ``chat_template`` is ``auto`` (the tokenizer's own),
    ``none`` (plain text prompts) or a path to a Jinja template file.
    """

    name: str | None = None
    # hf: in-process transformers; vllm: in-process vLLM; auto: vLLM where it can run the arm, else hf;
    # openai: an OpenAI-compatible server.
    backend: Literal["hf", "vllm", "auto", "openai"] = "hf"
    base: str = DEFAULT_BASE
    adapter: str | None = None
    system_prompt: str | None = None
    chat_template: str = "auto"
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    dtype: Dtype = "float32"
    quantization: Literal["none", "nf4", "int8"] = "none"
    batch_size: int = Field(32, ge=1)
    suites: list[str] = Field(default_factory=list)
    allow_base_mismatch: bool = False
    # settings this arm exists to change besides its adapter (not reported as confounds)
    intended_differences: list[Setting] = Field(default_factory=list)
    vllm: VLLMOptions = Field(default_factory=VLLMOptions)
    # served-model settings (backend: openai)
    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    max_concurrency: int = Field(4, ge=1)
    timeout: float = Field(60.0, gt=0)

    @field_validator("system_prompt")
    @classmethod
    def _empty_prompt_is_none(cls, value: str | None) -> str | None:
        return value if value and value.strip() else None

    @property
    def display_name(self) -> str:
        """A short human name for tables and reports."""
        if self.name:
            return self.name
        label = self.model or self.base.split("/")[-1].removeprefix(EMBEDDED_PREFIX)
        if self.adapter:
            label += f"+{Path(self.adapter).name}"
        if self.system_prompt:
            label += "+prompt"
        return label


def with_dtype(spec: ModelSpec, dtype: str | None) -> ModelSpec:
    """``spec`` computing in ``dtype`` (one of :data:`DTYPES`); unchanged when ``dtype`` is None."""
    if dtype is None:
        return spec
    if dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}.")
    return spec.model_copy(update={"dtype": dtype})


def load_model_spec(path: str | Path) -> ModelSpec:
    """Read a model spec YAML; relative adapter/template paths resolve against its folder."""
    spec = load_config(ModelSpec, path)
    folder = Path(path).resolve().parent
    updates = {}
    if spec.adapter and not Path(spec.adapter).is_absolute():
        updates["adapter"] = str((folder / spec.adapter).resolve())
    if spec.chat_template not in ("auto", "none") and not Path(spec.chat_template).is_absolute():
        updates["chat_template"] = str((folder / spec.chat_template).resolve())
    if spec.base.startswith((".", "/")) or (folder / spec.base).is_dir():
        candidate = (folder / spec.base).resolve()
        if candidate.is_dir():
            updates["base"] = str(candidate)
    if not spec.name:
        updates["name"] = Path(path).stem
    spec = spec.model_copy(update=updates) if updates else spec
    _check_local_paths(spec, path)
    return spec


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", "./", "../", "~", ".\\")) or text in (".", "..")


def _check_local_paths(spec: ModelSpec, source: str | Path) -> None:
    """Fail at load time, naming the spec's file and line, for local paths that do not exist."""
    if spec.backend != "openai" and _looks_like_path(spec.base) and not Path(spec.base).expanduser().is_dir():
        raise ConfigError(
            f"{locate(source, 'base')}: base: model directory {spec.base!r} does not exist.",
            hint="give a model folder, a hub id like org/name, or evalkit:<name>",
        )
    if spec.adapter and not Path(spec.adapter).is_dir():
        raise ConfigError(f"{locate(source, 'adapter')}: adapter: directory {spec.adapter!r} does not exist.")
    if spec.chat_template not in ("auto", "none") and not Path(spec.chat_template).is_file():
        raise ConfigError(
            f"{locate(source, 'chat_template')}: chat_template: file {spec.chat_template!r} not found.",
            hint="use auto (the tokenizer's template), none (plain text) or a path to a Jinja file",
        )
