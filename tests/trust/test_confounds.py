"""Like-for-like: arms that differ in more than what they test are refused, named, or declared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from evalkit_testing import make_random_lora
from trust_helpers import write_yaml
from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.models.loader import load_model
from evalkit.models.precision import resolve_dtype
from evalkit.models.spec import ModelSpec, load_model_spec
from evalkit.suite.loader import load_suite
from evalkit.train.card import tuned_spec
from evalkit.train.spec import load_train_spec
from evalkit.trust.confounds import find_confounds

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, " ".join(result.output.split())


@pytest.fixture()
def suite(tmp_path):
    """Three prompts, no suite-level generation override."""
    folder = tmp_path / "suites" / "s"
    folder.mkdir(parents=True)
    rows = [{"id": f"q{i}", "input": f"Say {i}", "target": str(i)} for i in range(3)]
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    write_yaml(
        folder / "suite.yaml", {"name": "s", "data": "data.jsonl", "scorers": [{"name": "exact_match"}]}
    )
    return folder


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"chat_template": "tmpl.jinja"}, "chat_template: 'tmpl.jinja (sha256 "),
        ({"dtype": "bfloat16"}, "dtype: 'bfloat16' vs 'float32' (reference)"),
        ({"generation": {"max_new_tokens": 6}}, "max_new_tokens: 6 vs 4 (reference) on s"),
        (
            {"generation": {"max_new_tokens": 4, "temperature": 0.7}},
            "temperature: 0.7 vs 0.0 (reference) on s",
        ),
    ],
)
def test_a_difference_beyond_the_tested_one_is_refused_and_named(
    tiny_model_dir, suite, tmp_path, isolated_home, change, needle
):
    (tmp_path / "tmpl.jinja").write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    ref = write_yaml(
        tmp_path / "ref.yaml",
        {"name": "ref", "base": str(tiny_model_dir), "generation": {"max_new_tokens": 4}},
    )
    other = write_yaml(
        tmp_path / "other.yaml",
        {"name": "other", "base": str(tiny_model_dir), "generation": {"max_new_tokens": 4}, **change},
    )
    code, output = invoke("compare", ref, other, "-s", suite, "--out", tmp_path / "cmp")
    assert code == 2, output
    assert "arm 'other' differs from the reference 'ref' in more than what it tests" in output
    assert needle in output, output
    assert "intended_differences" in output and "--allow-confound" in output and "Traceback" not in output
    assert not (tmp_path / "cmp" / "comparison.json").exists()


def test_allow_confound_runs_and_the_report_shows_it(tiny_model_dir, suite, tmp_path, isolated_home):
    ref = write_yaml(
        tmp_path / "ref.yaml",
        {"name": "ref", "base": str(tiny_model_dir), "generation": {"max_new_tokens": 4}},
    )
    other = write_yaml(
        tmp_path / "other.yaml",
        {"name": "other", "base": str(tiny_model_dir), "generation": {"max_new_tokens": 6}},
    )
    out = tmp_path / "cmp"
    code, output = invoke("compare", ref, other, "-s", suite, "--out", out, "--allow-confound")
    assert code == 0, output
    assert "WARNING: other is confounded (--allow-confound): max_new_tokens: 6 vs 4" in output
    comparison = json.loads((out / "comparison.json").read_text())
    confounds = next(a for a in comparison["arms"] if a["name"] == "other")["trust"]["confounds"]
    assert confounds == [
        {"setting": "max_new_tokens", "reference": 4, "candidate": 6, "suites": ["s"], "declared": False}
    ]
    html = (out / "index.html").read_text()
    assert "<b>max_new_tokens</b>: 6 vs 4 on s (confound, allowed by --allow-confound)" in html


def test_declared_difference_runs_without_a_flag(tiny_model_dir, suite, tmp_path, isolated_home):
    ref = write_yaml(
        tmp_path / "ref.yaml",
        {"name": "ref", "base": str(tiny_model_dir), "generation": {"max_new_tokens": 4}},
    )
    other = write_yaml(
        tmp_path / "other.yaml",
        {
            "name": "other",
            "base": str(tiny_model_dir),
            "generation": {"max_new_tokens": 6},
            "intended_differences": ["max_new_tokens"],
        },
    )
    code, output = invoke("compare", ref, other, "-s", suite, "--out", tmp_path / "cmp")
    assert code == 0, output
    assert "confounded" not in output
    comparison = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert next(a for a in comparison["arms"] if a["name"] == "other")["trust"]["confounds"][0]["declared"]
    typo = write_yaml(
        tmp_path / "typo.yaml",
        {"name": "t", "base": str(tiny_model_dir), "intended_differences": ["max_tokens"]},
    )
    code, output = invoke("compare", ref, typo, "-s", suite, "--out", tmp_path / "cmp2")
    assert code == 2 and "intended_differences" in output and "Traceback" not in output


def test_suite_override_and_tested_change_are_not_confounds(tiny_model_dir, suite, tmp_path, isolated_home):
    adapter = make_random_lora(tiny_model_dir, tmp_path / "lora")
    write_yaml(
        suite / "suite.yaml",
        {
            "name": "s",
            "data": "data.jsonl",
            "generation": {"max_new_tokens": 5},
            "scorers": [{"name": "exact_match"}],
        },
    )
    loaded = [load_suite(str(suite))]
    ref = load_model(ModelSpec(name="ref", base=str(tiny_model_dir)))
    longer = load_model(
        ModelSpec(
            name="long", base=str(tiny_model_dir), adapter=str(adapter), generation={"max_new_tokens": 48}
        )
    )
    assert find_confounds(ref, longer, loaded) == []  # the suite caps both at 5 tokens
    auto = load_model(ModelSpec(name="auto", base=str(tiny_model_dir), dtype="auto"))
    same = load_model(ModelSpec(name="same", base=str(tiny_model_dir), dtype=resolve_dtype("auto")))
    assert find_confounds(same, auto, loaded) == []  # auto is compared as what it resolves to here
    other = "float32" if resolve_dtype("auto") == "bfloat16" else "bfloat16"
    mixed = load_model(ModelSpec(name="mixed", base=str(tiny_model_dir), dtype=other))
    assert [c["setting"] for c in find_confounds(auto, mixed, loaded)] == ["dtype"]
    prompted_tuned = load_model(
        ModelSpec(name="pt", base=str(tiny_model_dir), adapter=str(adapter), system_prompt="Be brief.")
    )
    prompt_only = load_model(ModelSpec(name="po", base=str(tiny_model_dir), system_prompt="Be brief."))
    assert find_confounds(ref, prompt_only, loaded) == []  # a prompt-only arm exists to change the prompt
    assert [c["setting"] for c in find_confounds(ref, prompted_tuned, loaded)] == ["system_prompt"]


@pytest.mark.model
def test_shipped_demo_arms_are_like_for_like(default_home, tmp_path):
    train = load_train_spec(EXAMPLES / "train" / "support-triage.yaml")
    adapter = tmp_path / "demo-adapter"
    adapter.mkdir()
    doc = tuned_spec(train, adapter=str(adapter))
    assert doc["generation"] == load_model_spec(EXAMPLES / "base.yaml").generation.model_dump(mode="json")
    tuned = write_yaml(tmp_path / "tuned.yaml", doc)
    suites = [load_suite(name) for name in ("support-triage", "general-knowledge", "ifeval-lite")]
    base = load_model(EXAMPLES / "base.yaml")
    for spec in (EXAMPLES / "prompt_only.yaml", tuned):
        assert find_confounds(base, load_model(spec), suites) == [], spec
    served = [load_model(EXAMPLES / "served" / n) for n in ("base.yaml", "tuned.yaml")]
    assert find_confounds(served[0], served[1], suites) == []
