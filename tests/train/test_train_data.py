"""Training data: format detection, per-format row checks with file:line, rendering, truncation numbers."""

from __future__ import annotations

import json

import pytest
from train_helpers import chat_rows, write_jsonl

from evalkit.errors import DataError
from evalkit.train.data import (
    detect_format,
    encode_examples,
    end_of_turn,
    read_examples,
    truncation_warning,
)
from evalkit.train.spec import DataSource

GOOD = {
    "alpaca": {"instruction": "Classify", "input": "my card was charged twice", "output": "billing"},
    "messages": {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
    "conversations": {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]},
    "prompt_completion": {"prompt": "2+2=", "completion": "4"},
}


@pytest.mark.parametrize("fmt", sorted(GOOD))
def test_format_is_detected_from_the_first_row(tmp_path, fmt):
    path = write_jsonl(tmp_path / "d.jsonl", [GOOD[fmt], GOOD[fmt]])
    examples, detected, digest = read_examples(DataSource(path=str(path)))
    assert detected == fmt == detect_format(GOOD[fmt], "x")
    assert len(examples) == 2 and len(digest) == 64
    assert examples[0].where == f"{path}:1" and examples[1].where == f"{path}:2"


BAD_ROWS = [  # (format of the first good row, bad row, expected message fragment)
    ("alpaca", {"instruction": "Classify", "input": "x"}, "alpaca row has no 'output' field"),
    ("alpaca", {"instruction": ["a"], "output": "b"}, "'instruction' must be text"),
    ("messages", {"messages": [{"role": "user", "content": "hi"}]}, "must be the assistant's answer"),
    ("messages", {"messages": [{"role": "bot", "content": "hi"}, {"role": "assistant", "content": "x"}]},
     "messages[1] has role 'bot'"),
    ("messages", {"messages": "hello"}, "'messages' must be a non-empty list"),
    ("messages", {"messages": [{"role": "assistant", "content": "x"}]}, "has no user turn"),
    ("messages", {"prompt": "a", "completion": "b"}, "messages row has no 'messages' field"),
    ("conversations", {"conversations": [{"from": "robot", "value": "hi"}, {"from": "gpt", "value": "x"}]},
     "conversations[1] has from 'robot'"),
    ("conversations", {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt"}]},
     "conversations[2] must be an object with 'from' and 'value'"),
    ("prompt_completion", {"prompt": "a"}, "prompt_completion row has no 'completion' field"),
    ("prompt_completion", {"prompt": "a", "completion": 3}, "'completion' must be text"),
    ("prompt_completion", {"prompt": "a", "completion": "  "}, "the answer to train on is empty"),
]


@pytest.mark.parametrize(("fmt", "bad", "fragment"), BAD_ROWS, ids=[f"{f}-{i}" for i, (f, _, _) in
                                                                    enumerate(BAD_ROWS)])
def test_bad_rows_are_reported_with_file_and_line(tmp_path, fmt, bad, fragment):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(GOOD[fmt]) + "\n\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_examples(DataSource(path=str(path)))
    assert f"{path}:3:" in err.value.message and fragment in err.value.message


def test_row_missing_the_fields_of_an_explicit_format(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [GOOD["messages"]])
    with pytest.raises(DataError) as err:
        read_examples(DataSource(path=str(path), format="alpaca"), "alpaca")
    message = err.value.message
    assert message.startswith(f"{path}:1: alpaca row has no 'instruction' field")
    assert "'instruction' and 'output'" in message


def test_undetectable_format_and_malformed_json(tmp_path):
    unknown = write_jsonl(tmp_path / "u.jsonl", [{"text": "hello"}])
    with pytest.raises(DataError, match=r"u\.jsonl:1: cannot tell the data format from the keys \['text'\]"):
        read_examples(DataSource(path=str(unknown)))
    broken = tmp_path / "b.jsonl"
    broken.write_text(json.dumps(GOOD["alpaca"]) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"b\.jsonl:2: malformed JSON line"):
        read_examples(DataSource(path=str(broken)))


def test_rows_become_prompt_and_answer(tmp_path):
    rows = [GOOD["alpaca"], {"instruction": "Say hi", "output": "hi"}]
    examples, _, _ = read_examples(DataSource(path=str(write_jsonl(tmp_path / "a.jsonl", rows))))
    assert examples[0].prompt == "Classify\n\nmy card was charged twice"
    assert examples[0].completion == "billing"
    assert examples[1].prompt == "Say hi"
    multi = {"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "a"},
                               {"from": "gpt", "value": "b"}, {"from": "human", "value": "c"},
                               {"from": "gpt", "value": "d"}]}
    examples, _, _ = read_examples(DataSource(path=str(write_jsonl(tmp_path / "c.jsonl", [multi]))))
    assert examples[0].completion == "d"
    assert [m["role"] for m in examples[0].prompt] == ["system", "user", "assistant", "user"]


def test_training_text_is_what_evaluation_renders(tmp_path, tiny_model_dir):
    from evalkit.models.hf_backend import HFBackend
    from evalkit.models.hf_loading import load_tokenizer
    from evalkit.models.spec import ModelSpec

    tokenizer = load_tokenizer(str(tiny_model_dir))
    assert end_of_turn(tokenizer, "auto") == "<|im_end|>"
    assert end_of_turn(tokenizer, "none") == tokenizer.eos_token
    examples, _, _ = read_examples(DataSource(path=str(write_jsonl(tmp_path / "d.jsonl", chat_rows(3)))))
    rows = encode_examples(tokenizer, examples, system_prompt="Answer in JSON.", chat_template="auto",
                           eot="<|im_end|>")
    backend = HFBackend(ModelSpec(base=str(tiny_model_dir), system_prompt="Answer in JSON."),
                        str(tiny_model_dir), "unused")
    for example, row in zip(examples, rows):
        rendered = backend.render(example.prompt)  # exactly what evaluation sends to the model
        assert rendered.startswith("<|im_start|>system\nAnswer in JSON.<|im_end|>")
        prompt_ids = tokenizer(rendered, add_special_tokens=False)["input_ids"]
        assert row["input_ids"][: len(prompt_ids)] == prompt_ids
        assert row["labels"][: len(prompt_ids)] == [-100] * len(prompt_ids)
        answer = row["input_ids"][len(prompt_ids):]
        assert row["labels"][len(prompt_ids):] == answer
        assert tokenizer.decode(answer) == example.completion + "<|im_end|>"
    with pytest.raises(DataError, match=r"d\.jsonl:1: chat_template: none cannot render chat"):
        encode_examples(tokenizer, examples, system_prompt=None, chat_template="none", eot="")


def test_truncation_warning_gives_the_numbers():
    rows = [{"input_ids": [1] * 200, "labels": [-100] * 190 + [1] * 10}] * 400
    rows += [{"input_ids": [1] * 300, "labels": [-100] * 100 + [1] * 200}] * 12
    rows += [{"input_ids": [1] * 50, "labels": [-100] * 40 + [1] * 10}] * 88
    message = truncation_warning(rows, 128)
    assert message.startswith("412 of 500 rows (82%) are longer than max_length=128 tokens; raise max_length")
    assert "the longest has 300 tokens" in message and "400 rows lose the whole answer" in message
    assert truncation_warning(rows, 300) is None
