"""An lm-eval run records its prompting and the equivalent `lm_eval` command, which reproduces it."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from lmeval_support import MC_ROWS, write_task_suite
from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.lmeval.adapter import prompting
from evalkit.lmeval.reproduce import lm_eval_argv
from evalkit.lmeval.runner import run_lm_eval_suite
from evalkit.lmeval.tasks import include_dir
from evalkit.models.hf_loading import BasePool
from evalkit.models.loader import load_model
from evalkit.models.spec import ModelSpec
from evalkit.suite.loader import load_suite


def _flags(argv: list[str]) -> dict[str, str | bool]:
    """``--flag value`` pairs (``True`` for a bare flag) of an lm_eval argv."""
    out, index = {}, 1
    while index < len(argv):
        flag, following = argv[index], argv[index + 1] if index + 1 < len(argv) else None
        if following is None or following.startswith("--"):
            out[flag], index = True, index + 1
        else:
            out[flag], index = following, index + 2
    return out


def test_the_command_follows_the_suite_and_the_spec(tiny_model_dir, tmp_path, lora_factory):
    folder = write_task_suite(tmp_path / "tiny-mc", "tiny_mc", "multiple_choice", MC_ROWS, num_fewshot=2,
                              limit=5, batch_size=3)
    suite = load_suite(str(folder))
    adapter = lora_factory(tiny_model_dir, tmp_path / "lora")
    arm = load_model(ModelSpec(base=str(tiny_model_dir), adapter=str(adapter), chat_template="auto",
                               system_prompt="Answer with one word."), pool=BasePool())
    argv = lm_eval_argv(arm, suite, include_dir(suite), prompting(arm))
    flags = _flags(argv)
    assert argv[:3] == ["lm_eval", "--model", "hf"]
    assert flags["--model_args"] == f"pretrained={tiny_model_dir},dtype=float32,peft={adapter}"
    assert flags["--tasks"] == "tiny_mc" and flags["--include_path"] == str(folder.resolve())
    assert flags["--num_fewshot"] == "2" and flags["--limit"] == "5" and flags["--batch_size"] == "3"
    assert flags["--apply_chat_template"] is True and flags["--fewshot_as_multiturn"] is True
    assert flags["--system_instruction"] == "Answer with one word."
    plain = load_model(ModelSpec(base=str(tiny_model_dir), chat_template="none"), pool=BasePool())
    bare = _flags(lm_eval_argv(plain, load_suite(str(folder), limit=2), include_dir(suite), prompting(plain)))
    assert "--apply_chat_template" not in bare and "--system_instruction" not in bare
    assert bare["--limit"] == "2" and bare["--model_args"] == f"pretrained={tiny_model_dir},dtype=float32"
    half = load_model(ModelSpec(base=str(tiny_model_dir), chat_template="none", dtype="bfloat16"),
                      pool=BasePool())
    args = _flags(lm_eval_argv(half, suite, include_dir(suite), prompting(half)))["--model_args"]
    assert args == f"pretrained={tiny_model_dir},dtype=bfloat16,softmax_dtype=float32"  # as evalkit's HFLM


def test_metrics_and_cli_run_output_record_prompting_and_command(tiny_model_dir, mc_suite, tmp_path,
                                                                  isolated_home):
    spec = tmp_path / "chat.yaml"
    spec.write_text(yaml.safe_dump({"name": "chat", "base": str(tiny_model_dir), "chat_template": "auto",
                                    "system_prompt": "Be brief."}))
    args = ["run", str(spec), "--suite", str(mc_suite), "--out", str(tmp_path / "r")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads(next((tmp_path / "r").rglob("metrics.json")).read_text())
    block = metrics["reproduce"]
    assert block["chat_template_applied"] is True and block["system_prompt_applied"] is True
    assert block["argv"] == shlex.split(block["command"])
    assert "--apply_chat_template" in block["argv"] and "Be brief." in block["argv"]
    assert block["notes"] and "share_prefix" in block["notes"][0]  # the suite shares prefixes by default
    assert "chat template applied, system prompt applied" in result.output
    assert "lm_eval --model hf" in result.output and "--tasks tiny_mc" in result.output


def test_compare_puts_each_arms_prompting_on_the_suite(tiny_model_dir, mc_suite, tmp_path, isolated_home):
    specs = []
    for name, template in (("plain", "none"), ("chat", "auto")):
        specs.append(tmp_path / f"{name}.yaml")
        doc = {"name": name, "base": str(tiny_model_dir), "chat_template": template}
        if name == "chat":  # the arm exists to test the template
            doc["intended_differences"] = ["chat_template"]
        specs[-1].write_text(yaml.safe_dump(doc))
    out = tmp_path / "out"
    args = ["compare", *map(str, specs), "--suite", str(mc_suite), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    [suite] = json.loads((out / "comparison.json").read_text())["suites"]
    assert suite["lm_eval"]["plain"]["chat_template_applied"] is False
    assert suite["lm_eval"]["chat"]["chat_template_applied"] is True
    assert suite["lm_eval"]["chat"]["summary"] == "chat template applied, no system prompt"
    html = (out / "index.html").read_text()
    assert "no chat template (plain text)" in html and "--apply_chat_template" in html


@pytest.mark.slow
def test_the_recorded_command_gives_the_same_numbers(tiny_model_dir, tmp_path, isolated_home):
    folder = write_task_suite(tmp_path / "tiny-mc", "tiny_mc", "multiple_choice", MC_ROWS, share_prefix=False)
    arm = load_model(ModelSpec(base=str(tiny_model_dir), chat_template="none", system_prompt="Be brief."),
                     pool=BasePool())
    result = run_lm_eval_suite(arm, load_suite(str(folder)), tmp_path / "run")
    argv = result.metrics["reproduce"]["argv"]
    assert result.metrics["reproduce"]["notes"] == []
    script = Path(sys.executable).parent / "lm_eval"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "lm_eval"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    out = tmp_path / "cli"
    argv = [*command, *argv[1:], "--output_path", str(out), "--log_samples"]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    cli = json.loads(next(out.rglob("results_*.json")).read_text())["results"]["tiny_mc"]
    ours = result.metrics["lm_eval_results"]["tiny_mc"]
    assert cli["acc,none"] == ours["acc,none"] and cli["acc_norm,none"] == ours["acc_norm,none"]
    # Per document, each choice's log-likelihood: the same prompt (system prompt included) on both sides.
    logged = {row["doc_id"]: [float(r[0]) for r in row["filtered_resps"]]
              for path in out.rglob("samples_tiny_mc_*.jsonl") for row in map(json.loads, path.open())}
    gens = [json.loads(line) for line in (tmp_path / "run" / "generations.jsonl").open()]
    assert len(logged) == len(gens) == 6
    assert [logged[i] for i in sorted(logged)] == [g["loglikelihoods"] for g in gens]


def test_a_vllm_arm_reproduces_with_lm_evals_vllm_model(tmp_path):
    from types import SimpleNamespace

    folder = write_task_suite(tmp_path / "tiny-mc", "tiny_mc", "multiple_choice", MC_ROWS, limit=5,
                              batch_size=3)
    suite = load_suite(str(folder))
    spec = ModelSpec(base="/models/base", adapter="/models/lora", backend="vllm", chat_template="none")
    arm = SimpleNamespace(spec=spec, backend=SimpleNamespace(base_dir="/models/base"))
    argv = lm_eval_argv(arm, suite, include_dir(suite), prompting(arm))
    flags = _flags(argv)
    assert argv[:3] == ["lm_eval", "--model", "vllm"]
    assert flags["--model_args"] == "pretrained=/models/base,dtype=float32,lora_local_path=/models/lora"
    assert "--device" not in flags and flags["--limit"] == "5"
