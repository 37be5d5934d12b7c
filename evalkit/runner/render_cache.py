"""Rendered prompts and their token counts kept in the cache, so a warm run loads no tokenizer.

Rendering a prompt through a chat template, counting its tokens and reading
the model's context length need a transformers tokenizer, and importing
transformers takes seconds: most of a fully cached run. Each rendered prompt
is therefore stored (table ``renders`` of the generation cache) with its token
count and the context limit, under a key naming everything the rendering
depends on: the model folder's files other than weights (tokenizer files,
chat template, config), the chat template setting and text, the system
prompt, the versions of transformers, tokenizers and jinja2, and the input
itself. A hit is the text the tokenizer rendered before, not a re-implementation
of it. Templates that read the clock (``strftime_now``) are never cached:
their output changes with the date.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from evalkit.models.fingerprint import combine
from evalkit.models.prompting import sha256_text, template_text
from evalkit.runner.context import context_limit, context_warnings, overflow_warnings, prompt_tokens
from evalkit.runner.store import utf8_safe
from evalkit.types import SampleInput
from evalkit.versions import installed_versions

TABLE = "renders"
RENDER_FORMAT = 1  # bump when render_prompt or the token count changes meaning
_WEIGHT_SUFFIXES = {".safetensors", ".bin", ".gguf", ".pt", ".pth", ".h5", ".msgpack", ".ckpt", ".onnx"}
_CLOCK_WORDS = ("strftime_now", "now(")
_PACKAGES = ("transformers", "tokenizers", "jinja2")


def render_all(backend, inputs: dict[str, SampleInput], max_new_tokens: int, suite_name: str,
               cache=None, fingerprint: str = "") -> tuple[dict[str, str], list[str]]:
    """``(prompts by sample id, context warnings)`` for ``inputs``, from the cache where it has them.

    Without a cache, or for a backend whose rendering cannot be keyed (no
    local model folder, a clock-reading template), this is the backend's own
    ``render`` and :func:`~evalkit.runner.context.context_warnings`.
    """
    entries = _entries(backend, inputs, cache, fingerprint)
    if entries is None:
        prompts = {sid: backend.render(value) for sid, value in inputs.items()}
        return prompts, context_warnings(backend, prompts, max_new_tokens, suite_name)
    prompts = {sid: entry["text"] for sid, entry in entries.items()}
    lengths = {sid: entry["tokens"] for sid, entry in entries.items()}
    limit = next(iter(entries.values()))["limit"] if entries else None
    return prompts, overflow_warnings(lengths, limit, max_new_tokens, suite_name)


def render_texts(backend, inputs: list[SampleInput], cache=None, fingerprint: str = "") -> list[str]:
    """The backend's rendering of each input, from the cache where it has it (e.g. trust probe prompts)."""
    entries = _entries(backend, {str(i): value for i, value in enumerate(inputs)}, cache, fingerprint)
    if entries is None:
        return [backend.render(value) for value in inputs]
    return [entries[str(i)]["text"] for i in range(len(inputs))]


def _entries(backend, inputs: dict[str, SampleInput], cache, fingerprint: str) -> dict[str, dict] | None:
    """``{id: {text, tokens, limit}}`` for every input (rendering and storing the missing ones), or None
    when renders are not cached for this backend."""
    identity = renderer_identity(backend) if cache is not None else None
    if identity is None:
        return None
    keys = {sid: combine({"renderer": identity, "input": value}) for sid, value in inputs.items()}
    found = cache.get_values(TABLE, sorted(set(keys.values()))) if keys else {}
    missing = {key: sid for sid, key in keys.items() if key not in found}
    if missing:
        limit = context_limit(backend)
        fresh = {}
        for key, sid in missing.items():
            text = backend.render(inputs[sid])
            fresh[key] = {"text": text, "tokens": prompt_tokens(backend.tokenizer, text), "limit": limit}
        # Text UTF-8 cannot carry (a lone surrogate in an input) is used but not stored.
        cache.put_values(TABLE, fingerprint, [(k, v) for k, v in fresh.items() if utf8_safe(v["text"])])
        found.update(fresh)
    return {sid: found[key] for sid, key in keys.items()}


def renderer_identity(backend) -> str | None:
    """One digest of what a backend's renderings depend on, or None when they must not be cached."""
    base_dir, spec = getattr(backend, "base_dir", None), getattr(backend, "spec", None)
    if not base_dir or spec is None or not Path(base_dir).is_dir():
        return None
    template = template_text(base_dir, spec.chat_template)
    if spec.chat_template != "none" and any(word in template for word in _CLOCK_WORDS):
        return None
    return combine({
        "format": RENDER_FORMAT,
        "files": model_files_sha256(Path(base_dir)),
        "chat_template": spec.chat_template,
        "template": sha256_text(template),
        "system_prompt": spec.system_prompt,
        "versions": _versions(),
    })


def model_files_sha256(folder: Path) -> str:
    """sha256 over a model folder's files other than weights (tokenizer, template, configs)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix not in _WEIGHT_SUFFIXES):
        digest.update(f"{path.name}\n".encode())
        digest.update(hashlib.sha256(path.read_bytes()).hexdigest().encode())
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    return installed_versions(_PACKAGES)
