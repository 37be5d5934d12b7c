"""Training data: read rows, detect their format, check them, and turn them into prompt/completion pairs.

Every row becomes an :class:`Example` whose ``prompt`` is what evaluation would
pass to :func:`evalkit.models.prompting.render_prompt` (a string or a list of
chat messages) and whose ``completion`` is the assistant's answer. Rendering
then goes through ``render_prompt`` itself, so the prompt text trained on is
byte-identical to the one evaluation sends to the model.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import DataError
from evalkit.suite.loader import read_jsonl
from evalkit.train.spec import DataSource, TrainSpec

FORMAT_FIELDS = {
    "alpaca": "'instruction' and 'output' (and optionally 'input')",
    "messages": "'messages': a list of {role, content} ending with an assistant message",
    "conversations": "'conversations': a list of {from, value} (ShareGPT) ending with a gpt/assistant turn",
    "prompt_completion": "'prompt' and 'completion'",
}
SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant",
                  "assistant": "assistant", "bot": "assistant", "model": "assistant"}
CHAT_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Example:
    """One training example: where it came from, the model input and the target answer."""

    where: str
    prompt: str | list[dict]
    completion: str


@dataclass
class TrainingData:
    """The examples to train and validate on, with provenance for the adapter card."""

    train: list[Example]
    validation: list[Example]
    format: str
    source: str
    sha256: str
    rows: int
    validation_source: str | None


def read_rows(source: DataSource) -> tuple[list[tuple[str, dict]], str]:
    """Rows of a data source as (``file:line`` location, object) pairs, plus the sha256 of the data."""
    if source.hub is not None:
        return _read_hub(source)
    path = Path(source.path)
    if path.suffix.lower() == ".json":
        if not path.is_file():
            raise DataError(f"{path}: file not found.")
        raw = path.read_bytes()
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"{path}: not a valid UTF-8 JSON file: {exc}.") from None
        if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
            raise DataError(f"{path}: expected a JSON list of objects (or a .jsonl file, one object a line).")
        return [(f"{path}:row {i + 1}", row) for i, row in enumerate(data)], hashlib.sha256(raw).hexdigest()
    rows = read_jsonl(path)
    return [(f"{path}:{line}", row) for line, row in rows], hashlib.sha256(path.read_bytes()).hexdigest()


def _read_hub(source: DataSource) -> tuple[list[tuple[str, dict]], str]:
    try:
        import datasets

        dataset = datasets.load_dataset(source.hub, source.name, split=source.split)
    except Exception as exc:  # noqa: BLE001 - datasets raises many types offline
        raise DataError(f"could not load dataset {source.label}: {type(exc).__name__}: {str(exc)[:300]}",
                        hint="offline? export the rows to a local JSONL file and use data.path") from None
    rows = [(f"{source.label} row {i + 1}", dict(row)) for i, row in enumerate(dataset)]
    blob = json.dumps([r for _, r in rows], sort_keys=True, default=str).encode()
    digest = hashlib.sha256(blob).hexdigest()
    return rows, digest


def detect_format(row: dict, where: str) -> str:
    """The data format named by the keys of the first row."""
    if "messages" in row:
        return "messages"
    if "conversations" in row:
        return "conversations"
    if "instruction" in row and "output" in row:
        return "alpaca"
    if "prompt" in row and "completion" in row:
        return "prompt_completion"
    options = "; ".join(f"{name}: {fields}" for name, fields in FORMAT_FIELDS.items())
    raise DataError(f"{where}: cannot tell the data format from the keys {sorted(row)}. Expected {options}.",
                    hint="rename the fields, or set data.format explicitly")


def _missing(where: str, fmt: str, key: str) -> DataError:
    return DataError(f"{where}: {fmt} row has no {key!r} field (the {fmt} format needs "
                     f"{FORMAT_FIELDS[fmt]}).")


def _text(row: dict, key: str, fmt: str, where: str, *, required: bool = True) -> str:
    value = row.get(key)
    if value is None:
        if not required:
            return ""
        raise _missing(where, fmt, key)
    if not isinstance(value, str):
        raise DataError(f"{where}: {key!r} must be text, got {type(value).__name__}.")
    return value


def _chat(messages: object, fmt: str, where: str, key: str) -> list[dict]:
    """Validate a chat list (``messages`` or ShareGPT ``conversations``) into role/content dicts."""
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{where}: {key!r} must be a non-empty list ({fmt} rows need {FORMAT_FIELDS[fmt]}).")
    role_key, text_key = ("from", "value") if fmt == "conversations" else ("role", "content")
    out = []
    for index, message in enumerate(messages, start=1):
        if not isinstance(message, dict) or role_key not in message or text_key not in message:
            raise DataError(f"{where}: {key}[{index}] must be an object with {role_key!r} and {text_key!r}.")
        raw_role, content = message[role_key], message[text_key]
        role = SHAREGPT_ROLES.get(raw_role) if fmt == "conversations" else raw_role
        if role not in CHAT_ROLES:
            allowed = sorted(SHAREGPT_ROLES) if fmt == "conversations" else list(CHAT_ROLES)
            raise DataError(f"{where}: {key}[{index}] has {role_key} {raw_role!r}; expected one of "
                            f"{allowed}.")
        if not isinstance(content, str):
            raise DataError(f"{where}: {key}[{index}].{text_key} must be text, got {type(content).__name__}.")
        out.append({"role": role, "content": content})
    return out


def _split_last_answer(messages: list[dict], where: str, key: str) -> tuple[list[dict], str]:
    if messages[-1]["role"] != "assistant":
        raise DataError(f"{where}: the last {key} turn must be the assistant's answer (it is what is "
                        f"trained on), got {messages[-1]['role']!r}.")
    if not any(m["role"] == "user" for m in messages[:-1]):
        raise DataError(f"{where}: {key!r} has no user turn before the assistant's answer.")
    return messages[:-1], messages[-1]["content"]


def row_to_example(row: dict, fmt: str, where: str) -> Example:
    """Check one row against its format and turn it into an :class:`Example` (errors name ``where``)."""
    if fmt == "alpaca":
        instruction = _text(row, "instruction", fmt, where)
        extra = _text(row, "input", fmt, where, required=False)
        prompt: str | list[dict] = f"{instruction}\n\n{extra}" if extra.strip() else instruction
        completion = _text(row, "output", fmt, where)
    elif fmt in ("messages", "conversations"):
        if fmt not in row:
            raise _missing(where, fmt, fmt)
        prompt, completion = _split_last_answer(_chat(row[fmt], fmt, where, fmt), where, fmt)
    else:
        if "prompt" not in row or "completion" not in row:
            raise _missing(where, fmt, "prompt" if "prompt" not in row else "completion")
        prompt = row["prompt"]
        if not isinstance(prompt, str):
            prompt = _chat(prompt, "messages", where, "prompt")
        completion = row["completion"]
        if isinstance(completion, list):
            turns = _chat(completion, "messages", where, "completion")
            if len(turns) != 1 or turns[0]["role"] != "assistant":
                raise DataError(f"{where}: 'completion' must be text or a single assistant message.")
            completion = turns[0]["content"]
        elif not isinstance(completion, str):
            raise DataError(f"{where}: 'completion' must be text, got {type(completion).__name__}.")
    if not completion.strip():
        raise DataError(f"{where}: the answer to train on is empty.")
    if isinstance(prompt, str) and not prompt.strip():
        raise DataError(f"{where}: the prompt is empty.")
    return Example(where=where, prompt=prompt, completion=completion)


def read_examples(source: DataSource, fmt: str = "auto") -> tuple[list[Example], str, str]:
    """All examples of a source, the format used and the data's sha256."""
    rows, digest = read_rows(source)
    if not rows:
        raise DataError(f"{source.label}: no rows to train on.")
    if fmt == "auto":
        fmt = detect_format(rows[0][1], rows[0][0])
    return [row_to_example(row, fmt, where) for where, row in rows], fmt, digest


def load_training_data(spec: TrainSpec) -> TrainingData:
    """Read, check and split the spec's data (a deterministic split by ``training.seed``)."""
    examples, fmt, digest = read_examples(spec.data, spec.data.format)
    validation: list[Example] = []
    validation_source = None
    val = spec.validation
    if val is not None and val.path is not None:
        validation, _, _ = read_examples(DataSource(path=val.path), "auto")
        validation_source = val.path
    elif val is not None and val.fraction:
        count = round(len(examples) * val.fraction)
        if count and len(examples) - count >= 1:
            order = list(range(len(examples)))
            random.Random(spec.training.seed).shuffle(order)
            held = set(order[:count])
            validation = [ex for i, ex in enumerate(examples) if i in held]
            examples = [ex for i, ex in enumerate(examples) if i not in held]
            validation_source = f"{val.fraction:g} of {spec.data.label}"
    return TrainingData(train=examples, validation=validation, format=fmt, source=spec.data.label,
                        sha256=digest, rows=len(examples) + (len(validation) if val and val.fraction else 0),
                        validation_source=validation_source)


def end_of_turn(tokenizer, chat_template: str) -> str:
    """The text that closes an assistant turn in this template (e.g. ``<|im_end|>``), else the EOS token.

    Found by rendering a probe conversation with and without an answer: what
    the template writes after the answer (trailing whitespace dropped) is what
    the model must learn to produce so that generation stops there.
    """
    eos = tokenizer.eos_token or ""
    if chat_template == "none":
        return eos
    user, answer = [{"role": "user", "content": "Reply with the code."}], "PONG-7f3a"
    try:
        prompt = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template([*user, {"role": "assistant", "content": answer}],
                                             tokenize=False)
    except Exception:  # noqa: BLE001 - templates raise arbitrary errors
        return eos
    if not full.startswith(prompt) or not full[len(prompt):].startswith(answer):
        return eos
    return full[len(prompt) + len(answer):].rstrip() or eos


def encode_examples(tokenizer, examples: list[Example], *, system_prompt: str | None, chat_template: str,
                    eot: str) -> list[dict]:
    """Token ids and labels (prompt tokens masked with -100) for each example.

    The prompt is rendered by evaluation's own ``render_prompt`` and tokenized
    without special tokens, as evaluation does; the completion is the answer
    followed by the template's end-of-turn text, so only the answer and the
    stop are trained on.
    """
    from evalkit.errors import ConfigError
    from evalkit.models.prompting import render_prompt

    rows = []
    for example in examples:
        try:
            prompt = render_prompt(tokenizer, example.prompt, system_prompt, chat_template)
        except ConfigError as exc:
            raise DataError(f"{example.where}: {exc.message}", hint=exc.hint) from None
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(example.completion + eot, add_special_tokens=False)["input_ids"]
        rows.append({"input_ids": prompt_ids + answer_ids, "labels": [-100] * len(prompt_ids) + answer_ids})
    return rows


def truncation_warning(rows: list[dict], max_length: int) -> str | None:
    """A warning with numbers when rows are longer than ``max_length`` (their answers get cut), else None."""
    long = [row for row in rows if len(row["input_ids"]) > max_length]
    if not long:
        return None
    lost = sum(1 for row in long if all(label == -100 for label in row["labels"][:max_length]))
    longest = max(len(row["input_ids"]) for row in long)
    message = (f"{len(long)} of {len(rows)} rows ({100 * len(long) / len(rows):.0f}%) are longer than "
               f"max_length={max_length} tokens; raise max_length (the longest has {longest} tokens). "
               "Their answers are cut at the end")
    if lost:
        message += f", and {lost} rows lose the whole answer and are skipped"
    return message + "."
