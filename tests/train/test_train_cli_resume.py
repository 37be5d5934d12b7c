"""`evalkit train` end to end on the tiny model: resume, checkpoint cards, the forgetting curve, --compare."""

from __future__ import annotations

import json

import yaml
from tiny_model import CHATML
from train_helpers import write_jsonl
from typer.testing import CliRunner

from evalkit.cli import app

ENTRY_KEYS = {"step", "arm", "task_gain", "forgetting", "accepted", "pareto", "scores"}


def _general_suite(folder):
    rows = [{"id": f"g{i}", "input": f"Name a colour ({i})", "target": "blue"} for i in range(6)]
    write_jsonl(folder / "data.jsonl", rows)
    (folder / "suite.yaml").write_text(yaml.safe_dump({
        "name": "general-tiny", "kind": "general", "data": "data.jsonl", "generation": {"max_new_tokens": 4},
        "scorers": [{"name": "exact_match"}]}), encoding="utf-8")
    return folder


def test_train_resume_curve_and_compare(tiny_train_spec, small_suite, tmp_path):
    (tmp_path / "tmpl.jinja").write_text(CHATML, encoding="utf-8")
    spec_path = tiny_train_spec(chat_template="tmpl.jinja", system_prompt="Reply in JSON.")
    runner = CliRunner()
    first = runner.invoke(app, ["train", str(spec_path), "--max-steps", "2"])
    assert first.exit_code == 0, first.output
    out = tmp_path / "adapter"
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]

    general = _general_suite(tmp_path / "suites" / "general-tiny")
    base_spec = tmp_path / "base.yaml"
    # prompted like the tuned arm (compare refuses arms that differ in more than the adapter)
    base_spec.write_text(yaml.safe_dump({"name": "base", "base": str(tiny_model_base(spec_path)),
                                         "chat_template": "tmpl.jinja", "system_prompt": "Reply in JSON."}))
    second = runner.invoke(app, ["train", str(spec_path), "--resume", "--max-steps", "4", "--eval-suites",
                                 f"{small_suite},{general}", "--limit", "3", "--compare", str(base_spec)])
    assert second.exit_code == 0, second.output

    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    card = json.loads((out / "evalkit-card.json").read_text())
    assert card["stats"]["steps"] == 4 and card["stats"]["session_steps"] == 2
    assert [e["step"] for e in card["loss_history"]["train"]] == [1, 2, 3, 4]
    assert card["data"]["train_rows"] == 16 and card["train_spec"]["system_prompt"] == "Reply in JSON."
    for step in range(1, 5):
        folder = out / f"checkpoint-{step}"
        assert json.loads((folder / "evalkit-card.json").read_text())["step"] == step
        tuned = yaml.safe_load((folder / "tuned.yaml").read_text())
        assert tuned["adapter"] == "." and tuned["chat_template"] == "evalkit-chat-template.jinja"
        assert (folder / "evalkit-chat-template.jinja").read_text() == CHATML

    curve = json.loads((out / "checkpoints.json").read_text())
    assert [e["step"] for e in curve["checkpoints"]] == [1, 2, 3, 4]
    assert all(set(e) == ENTRY_KEYS for e in curve["checkpoints"])
    assert set(curve["base"]["scores"]) == {"small", "general-tiny"}
    entry = curve["checkpoints"][0]
    assert entry["scores"]["small"]["kind"] == "task" and entry["scores"]["general-tiny"]["kind"] == "general"
    assert entry["task_gain"] == entry["scores"]["small"]["delta"]
    assert entry["forgetting"] == entry["scores"]["general-tiny"]["delta"]
    best = [e for e in curve["checkpoints"] if e["arm"] == curve["best"]]
    assert best and best[0]["accepted"] and best[0]["pareto"]

    comparison = json.loads((out / "compare" / "comparison.json").read_text())
    assert [a["name"] for a in comparison["arms"]] == ["base", "spec"]
    assert comparison["checkpoints"] == curve["checkpoints"]
    assert "checkpoints" in (out / "compare" / "index.html").read_text()


def tiny_model_base(spec_path):
    """The base named by a train spec file."""
    return yaml.safe_load(spec_path.read_text())["base"]


def test_interrupted_cli_prints_the_resume_command(tiny_train_spec, tmp_path, monkeypatch):
    from evalkit.train.trainer import TrainResult

    spec_path = tiny_train_spec()
    checkpoint = tmp_path / "adapter" / "checkpoint-3"
    monkeypatch.setattr("evalkit.train.trainer.train",
                        lambda spec, **kw: TrainResult(tmp_path / "adapter", None, None, True, checkpoint))
    result = CliRunner().invoke(app, ["train", str(spec_path), "--max-steps", "9", "--eval-suites", "a,b"])
    assert result.exit_code == 130
    text = " ".join(result.output.split())
    assert f"The last checkpoint is {checkpoint}" in text
    assert f"evalkit train {spec_path} --resume --max-steps 9 --eval-suites a,b" in text
