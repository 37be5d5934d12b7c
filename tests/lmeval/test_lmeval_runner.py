"""lm-eval suites through evalkit's runner on a tiny random Llama: files, ids, resume, errors."""

from __future__ import annotations

import json
import time

import pytest
from lmeval_support import MC_ROWS, write_task_suite

from evalkit.compare.analysis import build_comparison
from evalkit.compare.rundata import load_run_dir
from evalkit.errors import ConfigError, DataError, EvalkitError
from evalkit.lmeval import tasks as lm_tasks
from evalkit.lmeval.convert import samples_from_generations
from evalkit.lmeval.runner import lm_eval_signature, run_lm_eval_suite
from evalkit.models.hf_loading import BasePool
from evalkit.models.loader import load_model
from evalkit.models.spec import ModelSpec
from evalkit.runner.run import run_suite
from evalkit.runner.store import read_jsonl_tolerant
from evalkit.suite.loader import load_suite

SCORE_KEYS = {"sample_id", "scorer", "value", "passed", "explanation", "error", "details"}


def _arm(model_dir, pool=None, **spec):
    return load_model(ModelSpec(base=str(model_dir), chat_template="none", **spec), pool=pool or BasePool())


def test_mc_suite_writes_a_native_run_directory(tiny_model_dir, mc_suite, tmp_path, isolated_home):
    arm = _arm(tiny_model_dir, name="tiny")
    seen = []
    result = run_suite(arm, load_suite(str(mc_suite)), tmp_path / "run",
                       progress=lambda done, total: seen.append((done, total)))
    out = tmp_path / "run"
    metrics = json.loads((out / "metrics.json").read_text())
    header = json.loads((out / "run.json").read_text())
    scores = read_jsonl_tolerant(out / "scores.jsonl")
    gens = read_jsonl_tolerant(out / "generations.jsonl")
    ids = ["tiny_mc-fr", "tiny_mc-sp", "tiny_mc-rp", "tiny_mc-bw", "tiny_mc-rj", "tiny_mc-sq"]
    assert [g["sample_id"] for g in gens] == ids
    assert all(set(r) == SCORE_KEYS for r in scores) and {r["scorer"] for r in scores} == {"acc", "acc_norm"}
    assert all(g["text"] in g["choices"] and len(g["loglikelihoods"]) == 3 for g in gens)
    lm_acc = metrics["lm_eval_results"]["tiny_mc"]["acc,none"]
    assert metrics["primary_metric"] == "acc" and result.primary == lm_acc
    assert metrics["metrics"]["acc"]["n"] == 6 and metrics["metrics"]["acc"]["binary"] is True
    assert metrics["metrics"]["acc"]["lm_eval_value"] == lm_acc
    assert metrics["fingerprint"] == arm.fingerprint == header["arm"]["fingerprint"]
    assert header["suite"]["kind"] == "lm-eval" and header["suite"]["data_sha256"]
    assert header["lm_eval"]["prompting"] == {"apply_chat_template": False, "chat_template": "none",
                                              "system_instruction": None, "fewshot_as_multiturn": False}
    assert metrics["sample_ids"] == {"tiny_mc": "id"}
    assert seen[0] == (0, 6) and seen[-1] == (6, 6)
    run = load_run_dir(out, samples_from_generations(gens), category_field="task")
    assert sorted(run.samples) == sorted(ids) and run.binary
    assert run.samples["tiny_mc-fr"].text == gens[0]["text"]
    assert run.inputs["tiny_mc-fr"] == {"input": "Question: What is the capital of France?\nAnswer:",
                                        "target": "Paris", "category": "tiny_mc"}


def test_generation_suite_records_text_and_chat_template(tiny_model_dir, gen_suite, tmp_path, isolated_home):
    arm = load_model(ModelSpec(base=str(tiny_model_dir), system_prompt="Be brief."), pool=BasePool())
    result = run_lm_eval_suite(arm, load_suite(str(gen_suite)), tmp_path / "run")
    gens = read_jsonl_tolerant(tmp_path / "run" / "generations.jsonl")
    assert [g["sample_id"] for g in gens] == [f"tiny_gen-g{i}" for i in range(4)]
    assert all(g["input"].startswith("<|im_start|>system\nBe brief.<|im_end|>") for g in gens)
    assert all(isinstance(g["text"], str) and "\n" not in g["text"] for g in gens)  # cut at the stop string
    assert all(g["new_tokens"] > 0 for g in gens if g["text"])
    header = json.loads((tmp_path / "run" / "run.json").read_text())
    assert header["lm_eval"]["prompting"]["apply_chat_template"] is True
    assert header["lm_eval"]["prompting"]["system_instruction"] == "Be brief."
    assert header["arm"]["generation"]["tasks"]["tiny_gen"]["max_gen_toks"] == 6
    assert result.metrics["metrics"]["exact_match"]["n"] == 4


def test_resume_reuses_metrics_and_refuses_another_model(tiny_model_dir, mc_suite, tmp_path, isolated_home,
                                                         monkeypatch):
    suite = load_suite(str(mc_suite))
    first = run_lm_eval_suite(_arm(tiny_model_dir), suite, tmp_path / "run")

    def boom(*args, **kwargs):
        raise AssertionError("a finished run must not be recomputed")

    monkeypatch.setattr("lm_eval.simple_evaluate", boom)
    again = run_lm_eval_suite(_arm(tiny_model_dir), suite, tmp_path / "run")
    assert again.metrics == first.metrics and again.resumed == 6 and again.generated == 0
    with pytest.raises(EvalkitError, match="different model or suite"):
        run_lm_eval_suite(_arm(tiny_model_dir, system_prompt="x"), suite, tmp_path / "run")


def test_base_and_adapter_share_one_base_and_compare(tiny_model_dir, mc_suite, tmp_path, isolated_home,
                                                     lora_factory):
    adapter = lora_factory(tiny_model_dir, tmp_path / "lora", seed=1, rank=16)
    suite = load_suite(str(mc_suite))
    alone = run_lm_eval_suite(_arm(tiny_model_dir), suite, tmp_path / "alone")
    pool = BasePool()
    tuned, base = _arm(tiny_model_dir, pool, adapter=str(adapter)), _arm(tiny_model_dir, pool)
    run_lm_eval_suite(tuned, suite, tmp_path / "tuned")
    run_lm_eval_suite(base, suite, tmp_path / "base")
    assert len(pool._bases) == 1 and tuned.backend.loaded() is base.backend.loaded()

    def lls(name):
        return [g["loglikelihoods"] for g in read_jsonl_tolerant(tmp_path / name / "generations.jsonl")]

    assert lls("base") == lls("alone")  # adapters disabled for the base arm: the plain base model's numbers
    assert lls("tuned") != lls("base")
    assert alone.metrics["metrics"] == json.loads((tmp_path / "base" / "metrics.json").read_text())["metrics"]
    arms = [{"name": n, "kind": k, "fingerprint": a.fingerprint, "spec": a.spec.model_dump()}
            for n, k, a in (("base", "base", base), ("tuned", "tuned", tuned))]
    runs = {"tiny-mc": {"base": load_run_dir(tmp_path / "base"), "tuned": load_run_dir(tmp_path / "tuned")}}
    comparison = build_comparison("lm-eval", arms, runs)
    block = comparison["suites"][0]
    assert block["kind"] == "lm-eval" and block["metric"] == "acc" and block["binary"] and block["n"] == 6
    delta = block["deltas"][0]
    assert delta["arm"] == "tuned" and delta["n"] == 6
    flips = comparison["flips"]
    assert len(flips) == delta["fail_to_pass"] + delta["pass_to_fail"]
    assert all(f["candidate_output"] in {c for row in MC_ROWS for c in row["choices"]} for f in flips)
    assert len(comparison["samples"]["tiny-mc"]) == 6


def test_unknown_task_and_metric_fail_before_the_model_loads(tiny_model_dir, tmp_path, isolated_home):
    arm = _arm(tiny_model_dir)
    bad_metric = write_task_suite(tmp_path / "m", "tiny_m", "multiple_choice", MC_ROWS, metric="f1")
    with pytest.raises(ConfigError, match=r"lm_eval.metric 'f1' is not a metric.*'acc'"):
        run_lm_eval_suite(arm, load_suite(str(bad_metric)), tmp_path / "r1")
    bad_task = write_task_suite(tmp_path / "t", "tiny_t", "multiple_choice", MC_ROWS, tasks=["tiny_nope"],
                                include_path=None)  # looked up among lm-eval's own tasks (index shared below)
    with pytest.raises(ConfigError, match="'tiny_nope' is not a known task"):
        run_lm_eval_suite(arm, load_suite(str(bad_task)), tmp_path / "r2")
    assert arm.backend._loaded is None


def test_hub_task_offline_fails_fast_with_a_data_error(tiny_model_dir, tmp_path, isolated_home, monkeypatch):
    folder = tmp_path / "arc"
    folder.mkdir()
    (folder / "suite.yaml").write_text("name: arc\nkind: lm-eval\nlm_eval: {tasks: [arc_easy]}\n")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: the hub is unreachable
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(lm_tasks, "_PROBES", {})
    arm = _arm(tiny_model_dir)
    started = time.perf_counter()
    with pytest.raises(DataError) as caught:
        run_lm_eval_suite(arm, load_suite(str(folder)), tmp_path / "run")
    message = str(caught.value)
    assert "lm-eval task 'arc_easy' could not load its data" in message
    assert "hub is not reachable" in message and "allenai/ai2_arc" in message
    assert "local task YAML" in message
    assert time.perf_counter() - started < 90
    assert arm.backend._loaded is None and not (tmp_path / "run" / "metrics.json").exists()


def test_served_models_are_refused(mc_suite, tmp_path):
    spec = ModelSpec(backend="openai", base_url="http://127.0.0.1:9/v1", model="m")
    with pytest.raises(ConfigError, match="need in-process log-likelihoods"):
        run_lm_eval_suite(load_model(spec), load_suite(str(mc_suite)), tmp_path / "run")


def test_signature_follows_task_files_and_settings_not_notes(mc_suite):
    def digest():
        return lm_eval_signature(load_suite(str(mc_suite)))["data_sha256"]

    before = digest()
    (mc_suite / "NOTES.md").write_text("notes")
    assert digest() == before
    with (mc_suite / "tiny_mc.jsonl").open("a") as handle:
        handle.write(json.dumps({**MC_ROWS[0], "id": "extra"}) + "\n")
    changed = digest()
    assert changed != before
    text = (mc_suite / "suite.yaml").read_text()
    (mc_suite / "suite.yaml").write_text(text.replace("batch_size: 4", "batch_size: 4\n  limit: 3"))
    assert digest() != changed


def test_each_arm_uses_its_own_chat_template_on_a_shared_base(tiny_model_dir, gen_suite, tmp_path,
                                                              isolated_home):
    template = tmp_path / "plain.jinja"
    template.write_text("{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
                        "[assistant] ")
    pool, suite = BasePool(), load_suite(str(gen_suite))
    custom = load_model(ModelSpec(base=str(tiny_model_dir), chat_template=str(template)), pool=pool)
    auto = load_model(ModelSpec(base=str(tiny_model_dir), chat_template="auto"), pool=pool)
    run_lm_eval_suite(custom, suite, tmp_path / "custom")
    run_lm_eval_suite(auto, suite, tmp_path / "auto")
    first = {name: read_jsonl_tolerant(tmp_path / name / "generations.jsonl")[0]["input"]
             for name in ("custom", "auto")}
    assert first["custom"].startswith("[user] Q: What is 0 plus 0?")
    assert first["auto"].startswith("<|im_start|>user\nQ: What is 0 plus 0?")


def test_limit_applies_to_lm_eval_suites(tiny_model_dir, tmp_path, isolated_home):
    """`--limit N` runs the first N documents (the smaller one when the suite sets its own)."""
    plain = write_task_suite(tmp_path / "a" / "tiny-mc", "tiny_mc", "multiple_choice", MC_ROWS)
    own = write_task_suite(tmp_path / "b" / "tiny-mc", "tiny_mc", "multiple_choice", MC_ROWS, limit=2)
    assert load_suite(str(plain), limit=4).spec.lm_eval.limit == 4
    assert load_suite(str(own), limit=4).spec.lm_eval.limit == 2
    assert load_suite(str(plain)).spec.lm_eval.limit is None
    limited = load_suite(str(plain), limit=3)
    assert lm_eval_signature(limited) != lm_eval_signature(load_suite(str(plain)))  # resume tells them apart
    run_lm_eval_suite(_arm(tiny_model_dir), limited, tmp_path / "run")
    gens = read_jsonl_tolerant(tmp_path / "run" / "generations.jsonl")
    assert [g["sample_id"] for g in gens] == ["tiny_mc-fr", "tiny_mc-sp", "tiny_mc-rp"]
