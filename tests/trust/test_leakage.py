"""Training rows copied into a suite are found (exact and near), scored apart, and fail the gate."""

from __future__ import annotations

import json
import random

import pytest
from evalkit_testing import make_random_lora
from trust_helpers import write_yaml
from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.suite.loader import load_suite
from evalkit.trust.leakage import NEAR_THRESHOLD, leakage_report, normalise, shingles

WORDS = [
    "parcel",
    "order",
    "refund",
    "screen",
    "battery",
    "charger",
    "invoice",
    "account",
    "password",
    "courier",
    "label",
    "return",
    "laptop",
    "phone",
    "cable",
    "tracking",
    "delivery",
    "address",
    "payment",
    "promo",
    "code",
    "warranty",
    "speaker",
    "headphones",
    "keyboard",
    "monday",
    "friday",
    "yesterday",
    "today",
    "week",
    "month",
    "broken",
    "missing",
    "late",
    "wrong",
    "double",
    "charged",
    "blocked",
    "cannot",
    "login",
    "reset",
    "arrived",
    "damaged",
    "replacement",
    "please",
    "help",
    "urgent",
    "again",
    "still",
    "never",
]


def sentence(rng: random.Random, n: int = 18) -> str:
    """A random support-like message: word 3-grams practically never repeat between two of them."""
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def lightly_edited(text: str) -> str:
    """One word replaced and the punctuation changed: a near-duplicate, not an exact one."""
    words = text.rstrip(".").split()
    words[len(words) // 2] = "zebra"
    return " ".join(words) + "!!"


@pytest.fixture()
def leaky(tmp_path):
    """A training file (alpaca) of 40 rows and a 30-sample suite: 10 copied, 5 edited, 15 new."""
    rng = random.Random(7)
    train = [sentence(rng) for _ in range(40)]
    (tmp_path / "train.jsonl").write_text(
        "".join(json.dumps({"instruction": t, "output": "ok"}) + "\n" for t in train), encoding="utf-8"
    )
    copied = [t.upper() if i % 2 else "  " + t.replace(" ", "   ") for i, t in enumerate(train[:10])]
    edited = [lightly_edited(t) for t in train[10:15]]
    fresh = [sentence(rng) for _ in range(15)]
    rows = [
        {"id": f"x{i:02d}", "input": text, "target": "ok"} for i, text in enumerate(copied + edited + fresh)
    ]
    folder = tmp_path / "suites" / "leaky"
    folder.mkdir(parents=True)
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    write_yaml(
        folder / "suite.yaml",
        {
            "name": "leaky",
            "data": "data.jsonl",
            "generation": {"max_new_tokens": 3},
            "scorers": [{"name": "exact_match"}],
        },
    )
    return tmp_path / "train.jsonl", folder


def test_normalisation_and_shingles():
    assert normalise("  Hello,   WORLD!\n") == "hello world"
    assert shingles("a b") == frozenset({("a", "b")})
    assert len(shingles("one two three four")) == 2


def test_copied_and_edited_rows_are_counted(leaky):
    train, folder = leaky
    report = leakage_report(train, [load_suite(str(folder))])
    block = report["suites"][0]
    assert (block["n"], block["exact"], block["near"], block["share"]) == (30, 10, 5, 0.5)
    kinds = {s["id"]: s["kind"] for s in block["samples"]}
    assert all(kinds[f"x{i:02d}"] == "exact" for i in range(10))
    assert all(kinds[f"x{i:02d}"] == "near" for i in range(10, 15)) and len(kinds) == 15
    near = [s for s in block["samples"] if s["kind"] == "near"]
    assert all(NEAR_THRESHOLD <= s["similarity"] < 1 for s in near)
    assert next(s for s in near if s["id"] == "x10")["train_where"].endswith("train.jsonl:11")

    result = CliRunner().invoke(app, ["leakage", str(train), "-s", str(folder), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["suites"][0]["exact"] == 10
    table = CliRunner().invoke(app, ["leakage", str(train), "-s", str(folder)])
    assert table.exit_code == 0 and "leaked samples" in table.output and "x14" in table.output


def test_the_shipped_support_triage_split_is_clean():
    result = CliRunner().invoke(
        app, ["leakage", "suites/support-triage/train_chat.jsonl", "-s", "support-triage", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    block = json.loads(result.output)["suites"][0]
    assert (block["n"], block["exact"], block["near"], block["samples"]) == (160, 0, 0, [])


def test_bad_train_file_is_a_clear_error(tmp_path, leaky):
    _, folder = leaky
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "no known fields"}\n')
    result = CliRunner().invoke(app, ["leakage", str(bad), "-s", str(folder)])
    assert result.exit_code == 2 and "cannot tell the data format" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_compare_lists_leaks_scores_the_clean_subset_and_gates(
    tiny_model_dir, leaky, tmp_path, isolated_home
):
    train, folder = leaky
    adapter = make_random_lora(tiny_model_dir, tmp_path / "lora")
    (adapter / "evalkit-card.json").write_text(
        json.dumps(
            {
                "format": 1,
                "base": str(tiny_model_dir),
                "data": {"source": str(train), "format": "alpaca", "sha256": None, "rows": 40},
            }
        )
    )
    base = write_yaml(tmp_path / "base.yaml", {"name": "base", "base": str(tiny_model_dir)})
    tuned = write_yaml(
        tmp_path / "tuned.yaml", {"name": "tuned", "base": str(tiny_model_dir), "adapter": str(adapter)}
    )
    gate = write_yaml(tmp_path / "gate.yaml", {"max_overlap": 0.1})
    out = tmp_path / "cmp"
    result = CliRunner().invoke(
        app, ["compare", str(base), str(tuned), "-s", str(folder), "--out", str(out), "--gate", str(gate)]
    )
    assert result.exit_code == 1, result.output
    comparison = json.loads((out / "comparison.json").read_text())
    rule = comparison["gate"]["rules"][-1]
    assert rule["name"] == "max_overlap 0.1" and not rule["passed"]
    assert "10 exact + 5 near-duplicate sample(s) of 30 (50.0%)" in rule["message"]
    report = comparison["trust"]["leakage"][0]
    assert report["arms"] == ["tuned"] and report["origin"] == "adapter card"
    suite = comparison["suites"][0]
    assert suite["leakage"]["leaked"] == 15 and suite["leakage"]["sample_ids"][0] == "x00"
    for arm in ("base", "tuned"):
        values = {s["id"]: s["outputs"][arm]["value"] for s in comparison["samples"]["leaky"]}
        clean = [v for sid, v in values.items() if sid not in set(suite["leakage"]["sample_ids"])]
        assert suite["leakage"]["clean"][arm] == {"mean": sum(clean) / len(clean), "n": 15}
    html = (out / "index.html").read_text()
    assert "scores without the 15 leaked sample(s)" in html and "x14" in html

    loose = write_yaml(tmp_path / "loose.yaml", {"max_overlap": 0.6})
    again = CliRunner().invoke(
        app, ["compare", str(base), str(tuned), "-s", str(folder), "--out", str(out), "--gate", str(loose)]
    )
    assert again.exit_code == 0, again.output


def test_train_data_flag_and_unknown_training_data(tiny_model_dir, leaky, tmp_path, isolated_home):
    train, folder = leaky
    base = write_yaml(tmp_path / "base.yaml", {"name": "base", "base": str(tiny_model_dir)})
    other = write_yaml(
        tmp_path / "other.yaml", {"name": "other", "base": str(tiny_model_dir), "system_prompt": "Be brief."}
    )
    gate = write_yaml(tmp_path / "gate.yaml", {"max_overlap": 0.0})
    out = tmp_path / "cmp"
    args = ["compare", str(base), str(other), "-s", str(folder), "--out", str(out), "--gate", str(gate)]
    unknown = CliRunner().invoke(app, args)
    assert unknown.exit_code == 1
    rule = json.loads((out / "comparison.json").read_text())["gate"]["rules"][-1]
    assert not rule["passed"] and "leakage cannot be judged" in rule["message"]
    given = CliRunner().invoke(app, [*args, "--train-data", str(train)])
    assert given.exit_code == 1, given.output
    comparison = json.loads((out / "comparison.json").read_text())
    assert comparison["trust"]["leakage"][0]["origin"] == "--train-data"
    assert comparison["suites"][0]["leakage"]["leaked"] == 15


def test_training_prompts_wrapped_in_the_suite_template_are_unwrapped(tmp_path):
    """A chat row whose user turn is the suite's own prompt around a test message is an exact leak."""
    suite = load_suite("support-triage", limit=3, build_scorers=False)
    wrapped = suite.render_prompt(suite.samples[1])
    rows = [
        {"conversations": [{"from": "human", "value": wrapped}, {"from": "gpt", "value": "{}"}]},
        {
            "conversations": [
                {"from": "human", "value": "Something else entirely, about a parcel."},
                {"from": "gpt", "value": "{}"},
            ]
        },
    ]
    path = tmp_path / "sharegpt.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    block = leakage_report(path, [suite])["suites"][0]
    assert (block["exact"], block["near"]) == (1, 0)
    assert block["samples"][0]["id"] == suite.samples[1].id and block["samples"][0]["train_where"].endswith(
        ":1"
    )


def test_missing_train_data_fails_before_any_generation(tiny_model_dir, leaky, tmp_path, isolated_home):
    _, folder = leaky
    base = write_yaml(tmp_path / "base.yaml", {"name": "base", "base": str(tiny_model_dir)})
    other = write_yaml(
        tmp_path / "other.yaml", {"name": "o", "base": str(tiny_model_dir), "system_prompt": "Hi"}
    )
    out = tmp_path / "cmp"
    args = [
        "compare",
        str(base),
        str(other),
        "-s",
        str(folder),
        "--out",
        str(out),
        "--train-data",
        "nope.jsonl",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "nope.jsonl: file not found" in result.output
    assert not (out / "runs").exists()
