"""Parity with the lm-eval CLI: on the default model, evalkit's numbers equal ``lm_eval --model hf``'s.

Both sides run the shipped lm-eval suites (gk-mc, ifeval-lm) on
``evalkit:smollm2-135m-instruct`` in float32 with the suites' batch size on
their first documents (``LIMITS``: ``--limit`` on the CLI, or ``--samples``
with the same first documents where one CLI run covers both tasks): evalkit
through ``run_lm_eval_suite`` on its shared loaded base, the CLI as a
subprocess loading the converted folder itself. The base model without and
with the chat template, and a random LoRA adapter (``peft=`` on the CLI side,
``adapter:`` in evalkit's ModelSpec), must give identical aggregate results and
identical per-document log-likelihoods and generations.

Both sides use the same number of torch threads (``EVALKIT_PARITY_THREADS``,
default 1: on a shared 2-core machine one thread per process is several times
faster than two, and the count must match for bit-identical sums).
``EVALKIT_FULL_PARITY=1`` runs the whole suites (many minutes on CPU).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evalkit.lmeval.runner import run_lm_eval_suite
from evalkit.models.hf_loading import BasePool
from evalkit.models.loader import load_model
from evalkit.models.spec import ModelSpec
from evalkit.runner.store import read_jsonl_tolerant
from evalkit.suite.loader import load_suite

pytestmark = pytest.mark.model

REPO = Path(__file__).resolve().parents[2]
FULL = os.environ.get("EVALKIT_FULL_PARITY") == "1"
SHIPPED = {"gk-mc": "gk_mc", "ifeval-lm": "ifeval_lm"}
LIMITS = {"gk-mc": None, "ifeval-lm": None} if FULL else {"gk-mc": 10, "ifeval-lm": 5}
THREADS = int(os.environ.get("EVALKIT_PARITY_THREADS", "1"))


def _lm_eval_command() -> list[str]:
    script = Path(sys.executable).parent / "lm_eval"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "lm_eval"]


def run_cli(model_dir: Path, out: Path, suites: list[str], include: Path, batch_size: int, *,
            peft: Path | None = None, chat: bool = False) -> dict:
    """Run the lm_eval CLI on the suites' tasks; return its results and {task: {doc_id: sample}}."""
    tasks = [SHIPPED[s] for s in suites]
    model_args = f"pretrained={model_dir},dtype=float32" + (f",peft={peft}" if peft else "")
    command = [*_lm_eval_command(), "--model", "hf", "--model_args", model_args, "--tasks", ",".join(tasks),
               "--include_path", str(include), "--device", "cpu", "--batch_size", str(batch_size),
               "--output_path", str(out), "--log_samples"]
    limits = {LIMITS[s] for s in suites}
    if len(limits) == 1 and None not in limits:
        command += ["--limit", str(limits.pop())]
    elif not FULL:  # one run, different limits: the same first documents, named
        command += ["--samples", json.dumps({SHIPPED[s]: list(range(LIMITS[s])) for s in suites})]
    command += ["--apply_chat_template"] if chat else []
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "EVALKIT_HOME": str(out / "evalkit-home"), "OMP_NUM_THREADS": str(THREADS)}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"lm_eval failed:\n{done.stderr[-3000:]}"
    results = json.loads(next(out.rglob("results_*.json")).read_text())
    samples = {}
    for task in tasks:
        rows = [json.loads(line) for path in out.rglob(f"samples_{task}_*.jsonl") for line in path.open()]
        samples[task] = {row["doc_id"]: row for row in rows}
    return {"results": results["results"], "samples": samples}


def parity_suite(tmp: Path, name: str) -> Path:
    """The shipped suite with its include_path made absolute and the parity limit applied."""
    spec = yaml.safe_load((REPO / "suites" / name / "suite.yaml").read_text())
    include = REPO / "suites" / name / spec["lm_eval"]["include_path"]
    spec["lm_eval"]["include_path"] = str(include.resolve())
    spec["lm_eval"]["limit"] = LIMITS[name]
    spec["lm_eval"]["share_prefix"] = False  # the CLI's numbers to the last digit (see test_shared_prefix)
    folder = tmp / name
    folder.mkdir(parents=True)
    (folder / "suite.yaml").write_text(yaml.safe_dump(spec))
    return folder


@pytest.fixture(scope="module")
def parity(default_model_dir, tmp_path_factory):
    """Suites, a random LoRA adapter, and evalkit arms sharing one loaded base (torch on THREADS threads)."""
    import torch
    from lmeval_support import make_lora

    previous = torch.get_num_threads()
    previous_env = os.environ.get("EVALKIT_THREADS")
    os.environ["EVALKIT_THREADS"] = str(THREADS)  # the governor keeps THREADS whatever the machine's load
    torch.set_num_threads(THREADS)
    tmp = tmp_path_factory.mktemp("parity")
    suites = {name: load_suite(str(parity_suite(tmp / "suites", name))) for name in SHIPPED}
    adapter = make_lora(default_model_dir, tmp / "lora", seed=0, rank=8)
    pool = BasePool()

    def arm(**spec):
        return load_model(ModelSpec(base=str(default_model_dir), dtype="float32", **spec), pool=pool)

    arms = {"tuned": arm(adapter=str(adapter), chat_template="none"), "base": arm(chat_template="none"),
            "chat": arm(chat_template="auto")}
    yield {"tmp": tmp, "suites": suites, "adapter": adapter, "arms": arms, "model_dir": default_model_dir}
    torch.set_num_threads(previous)
    if previous_env is None:
        os.environ.pop("EVALKIT_THREADS", None)
    else:
        os.environ["EVALKIT_THREADS"] = previous_env


def evalkit_run(parity, arm: str, suite: str) -> dict:
    """evalkit's run of ``suite`` on ``arm``: metrics and generations by doc_id."""
    out = parity["tmp"] / "runs" / arm / suite
    result = run_lm_eval_suite(parity["arms"][arm], parity["suites"][suite], out)
    gens = {g["doc_id"]: g for g in read_jsonl_tolerant(out / "generations.jsonl")}
    return {"metrics": result.metrics, "gens": gens}


def batch_size(parity, suite: str) -> int:
    return parity["suites"][suite].spec.lm_eval.batch_size


def assert_mc_parity(ours: dict, cli: dict, task: str) -> None:
    """Aggregates verbatim, primary mean, and every document's log-likelihoods identical."""
    assert ours["metrics"]["lm_eval_results"][task] == cli["results"][task]
    assert ours["metrics"]["metrics"]["acc"]["mean"] == cli["results"][task]["acc,none"]
    assert ours["metrics"]["metrics"]["acc_norm"]["mean"] == cli["results"][task]["acc_norm,none"]
    assert sorted(ours["gens"]) == sorted(cli["samples"][task])
    for doc_id, gen in ours["gens"].items():
        theirs = cli["samples"][task][doc_id]
        assert gen["loglikelihoods"] == [float(r[0]) for r in theirs["filtered_resps"]], doc_id


def test_gk_mc_and_ifeval_base_equal_the_cli(parity):
    sizes = {batch_size(parity, s) for s in SHIPPED}
    assert len(sizes) == 1, "one CLI run covers both tasks only with one batch size"
    cli = run_cli(parity["model_dir"], parity["tmp"] / "cli-base", list(SHIPPED), REPO / "suites",
                  sizes.pop())
    gk = evalkit_run(parity, "base", "gk-mc")
    assert_mc_parity(gk, cli, "gk_mc")
    ifeval = evalkit_run(parity, "base", "ifeval-lm")
    results = cli["results"]["ifeval_lm"]
    assert ifeval["metrics"]["lm_eval_results"]["ifeval_lm"] == results
    metrics = ifeval["metrics"]["metrics"]
    assert metrics["prompt_level_strict_acc"]["mean"] == results["prompt_level_strict_acc,none"]
    assert metrics["prompt_level_loose_acc"]["mean"] == results["prompt_level_loose_acc,none"]
    assert metrics["inst_level_strict_acc"]["lm_eval_value"] == results["inst_level_strict_acc,none"]
    for doc_id, gen in ifeval["gens"].items():
        assert gen["text"] == cli["samples"]["ifeval_lm"][doc_id]["filtered_resps"][0], doc_id
    print(f"\nparity base: gk_mc acc evalkit={gk['metrics']['metrics']['acc']['mean']!r} "
          f"cli={cli['results']['gk_mc']['acc,none']!r}; ifeval_lm prompt_level_strict_acc "
          f"evalkit={metrics['prompt_level_strict_acc']['mean']!r} "
          f"cli={results['prompt_level_strict_acc,none']!r}")


def test_gk_mc_with_adapter_equals_the_cli_with_peft(parity):
    cli = run_cli(parity["model_dir"], parity["tmp"] / "cli-peft", ["gk-mc"], REPO / "suites" / "gk-mc",
                  batch_size(parity, "gk-mc"), peft=parity["adapter"])
    tuned = evalkit_run(parity, "tuned", "gk-mc")
    assert_mc_parity(tuned, cli, "gk_mc")
    base = evalkit_run(parity, "base", "gk-mc")  # resumed from the base test's run when it ran first
    assert [g["loglikelihoods"] for g in tuned["gens"].values()] != [
        g["loglikelihoods"] for g in base["gens"].values()]
    assert len(parity["arms"]["tuned"].backend._pool._bases) == 1
    print(f"\nparity adapter: gk_mc acc evalkit={tuned['metrics']['metrics']['acc']['mean']!r} "
          f"cli={cli['results']['gk_mc']['acc,none']!r}")


def test_gk_mc_with_chat_template_equals_the_cli(parity):
    cli = run_cli(parity["model_dir"], parity["tmp"] / "cli-chat", ["gk-mc"], REPO / "suites" / "gk-mc",
                  batch_size(parity, "gk-mc"), chat=True)
    chat = evalkit_run(parity, "chat", "gk-mc")
    assert_mc_parity(chat, cli, "gk_mc")
    assert all(g["input"].startswith("<|im_start|>") for g in chat["gens"].values())
    print(f"\nparity chat template: gk_mc acc evalkit={chat['metrics']['metrics']['acc']['mean']!r} "
          f"cli={cli['results']['gk_mc']['acc,none']!r}")
    parity["cli-chat"] = cli


def test_gk_mc_shared_prefix_matches_the_cli_to_rounding(parity):
    """The default share_prefix path (chat header computed once per batch) on the real model."""
    import dataclasses

    cli = parity.get("cli-chat") or run_cli(parity["model_dir"], parity["tmp"] / "cli-chat", ["gk-mc"],
                                            REPO / "suites" / "gk-mc", batch_size(parity, "gk-mc"), chat=True)
    suite = parity["suites"]["gk-mc"]
    section = suite.spec.lm_eval.model_copy(update={"share_prefix": True})
    shared_suite = dataclasses.replace(suite, spec=suite.spec.model_copy(update={"lm_eval": section}))
    out = parity["tmp"] / "runs" / "chat-shared" / "gk-mc"
    result = run_lm_eval_suite(parity["arms"]["chat"], shared_suite, out)
    assert result.metrics["metrics"]["acc"]["mean"] == cli["results"]["gk_mc"]["acc,none"]
    assert result.metrics["metrics"]["acc_norm"]["mean"] == cli["results"]["gk_mc"]["acc_norm,none"]
    for gen in read_jsonl_tolerant(out / "generations.jsonl"):
        theirs = [float(r[0]) for r in cli["samples"]["gk_mc"][gen["doc_id"]]["filtered_resps"]]
        assert gen["loglikelihoods"] == pytest.approx(theirs, abs=1e-4), gen["doc_id"]
