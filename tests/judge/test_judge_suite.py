"""The example suite ``suites/support-replies``: valid spec, skipped without a key, judged end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from evalkit.config import load_config
from evalkit.errors import SuiteSkipped
from evalkit.judge.usage import write_judge_usage
from evalkit.runner.scoring import score_samples, summarise
from evalkit.runner.store import read_json, write_jsonl_atomic
from evalkit.suite.loader import load_suite
from evalkit.suite.spec import SuiteSpec
from evalkit.types import Generation

SUITE = Path(__file__).resolve().parents[2] / "suites" / "support-replies"


def test_spec_and_data_are_valid():
    spec = load_config(SuiteSpec, SUITE / "suite.yaml")
    assert spec.kind == "task" and spec.primary_metric == "reply_quality"
    judge, length = spec.scorers
    assert judge.name == "judge_rubric" and judge.options["backend"] == "anthropic"
    assert judge.options["scale"] == [1, 10] and judge.options["pass_threshold"] == 7
    assert length.name == "length" and length.options == {"max": 120}
    rows = [json.loads(line) for line in (SUITE / "data.jsonl").read_text().splitlines()]
    assert len(rows) == 40 and len({r["id"] for r in rows}) == 40
    assert all(r["input"].strip() and r["target"].strip() for r in rows)
    assert all(len(r["target"].split()) <= 120 for r in rows)


def test_without_key_the_suite_is_skipped_with_the_notice(isolated_home, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(SuiteSkipped) as info:
        load_suite(str(SUITE))
    assert info.value.message == "judge not run: ANTHROPIC_API_KEY is not set"
    assert not (isolated_home / "judge_cache.sqlite").exists()


def test_whole_suite_judged_against_loopback(fake_key, messages_server, tmp_path):
    folder = tmp_path / "support-replies"
    shutil.copytree(SUITE, folder)
    spec = yaml.safe_load((folder / "suite.yaml").read_text())
    spec["scorers"][0]["options"]["base_url"] = messages_server.base_url
    (folder / "suite.yaml").write_text(yaml.safe_dump(spec))
    suite = load_suite(str(folder))
    generations = {s.id: Generation(s.id, s.target) for s in suite.samples}  # the reference replies
    rows = score_samples(suite, generations)
    write_jsonl_atomic(tmp_path / "scores.jsonl", rows)
    metrics = summarise(rows, list(suite.scorers))
    assert messages_server.count == 40
    assert metrics["reply_quality"]["mean"] == 8.0 and metrics["reply_quality"]["pass_rate"] == 1.0
    assert metrics["length"]["pass_rate"] == 1.0
    prompt = messages_server.requests[0]["body"]
    assert prompt["model"] == "claude-sonnet-5-5" and prompt["max_tokens"] == 200
    usage = read_json(write_judge_usage(tmp_path), "judge usage")["scorers"]["reply_quality"]
    assert usage["samples"] == 40 and usage["calls"] == 40 and usage["judge_errors"] == 0
    # rerun: all from the cache
    again = score_samples(load_suite(str(folder)), generations)
    assert messages_server.count == 40
    assert all(r["details"]["judge"]["cached"] for r in again if r["scorer"] == "reply_quality")
