"""Turning a sample's input into the exact text a model sees (chat template, system prompt)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from evalkit.errors import ConfigError
from evalkit.types import Message, SampleInput


def as_messages(user_input: SampleInput, system_prompt: str | None) -> list[Message]:
    """Chat messages for an input, with the spec's system prompt first (unless the input has one)."""
    messages = [{"role": "user", "content": user_input}] if isinstance(user_input, str) else list(user_input)
    if system_prompt and not (messages and messages[0].get("role") == "system"):
        messages = [{"role": "system", "content": system_prompt}, *messages]
    return messages


def render_prompt(tokenizer, user_input: SampleInput, system_prompt: str | None, chat_template: str) -> str:
    """The prompt string for one sample.

    ``chat_template='none'`` joins the system prompt and the text plainly (chat
    inputs are refused: they need a template); otherwise the tokenizer's chat
    template (or the one loaded from a file) renders the messages with the
    generation prompt appended.
    """
    if chat_template == "none":
        if not isinstance(user_input, str):
            raise ConfigError(
                "chat_template: none cannot render chat 'messages' inputs; use auto or a template file."
            )
        return f"{system_prompt}\n\n{user_input}" if system_prompt else user_input
    messages = as_messages(user_input, system_prompt)
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def apply_template_policy(tokenizer, chat_template: str) -> None:
    """Install a template file on the tokenizer, or check that 'auto' has one."""
    if chat_template in ("auto", "none"):
        if chat_template == "auto" and not getattr(tokenizer, "chat_template", None):
            raise ConfigError(
                "the model has no chat template, so chat_template: auto cannot be used.",
                hint="set chat_template: none for plain-text prompts, or a path to a Jinja template",
            )
        return
    path = Path(chat_template)
    if not path.is_file():
        raise ConfigError(f"chat_template file {chat_template!r} not found.")
    tokenizer.chat_template = path.read_text(encoding="utf-8")


def template_text(model_dir: str, chat_template: str) -> str:
    """The chat template that will be used, read from files without loading the tokenizer."""
    if chat_template == "none":
        return ""
    if chat_template != "auto":
        return (
            Path(chat_template).read_text(encoding="utf-8")
            if Path(chat_template).is_file()
            else chat_template
        )
    folder = Path(model_dir)
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    config = folder / "tokenizer_config.json"
    if config.is_file():
        return str(json.loads(config.read_text(encoding="utf-8")).get("chat_template") or "")
    return f"hub-default:{model_dir}"


def sha256_text(text: str) -> str:
    """Hex sha256 of a string (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
