"""A judged run via load_suite + the runner's scoring: usage file, and no key anywhere on disk or in logs."""

from __future__ import annotations

import json
import logging

import yaml
from loopback_messages import Step, rubric_options

from evalkit.judge.usage import write_judge_usage
from evalkit.runner.scoring import score_samples, summarise
from evalkit.runner.store import read_json, write_jsonl_atomic
from evalkit.suite.loader import load_suite
from evalkit.types import Generation


def _suite(folder, options: dict, n: int = 6):
    folder.mkdir(parents=True)
    rows = [{"id": f"m{i}", "input": f"My charger #{i} stopped working.", "target": "Warranty covers it."}
            for i in range(n)]
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {"name": "judged", "kind": "task", "data": "data.jsonl",
            "scorers": [{"name": "judge_rubric", "id": "quality", "options": options},
                        {"name": "length", "options": {"max": 120}}]}
    (folder / "suite.yaml").write_text(yaml.safe_dump(spec))
    return load_suite(str(folder))


def test_run_records_usage_and_never_writes_the_key(fake_key, messages_server, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    messages_server.script = [Step(status=401, error_message=f"invalid x-api-key {fake_key}")]
    messages_server.responder = lambda body: json.dumps({"score": 6, "reason": f"fine, key was {fake_key}"})
    price = {"input_per_mtok": 1.0, "output_per_mtok": 5.0}
    suite = _suite(tmp_path / "suite", rubric_options(messages_server, max_concurrency=1, price=price))
    generations = {s.id: Generation(s.id, "Sorry to hear that! Our 2-year warranty covers it.")
                   for s in suite.samples}
    rows = score_samples(suite, generations)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_jsonl_atomic(run_dir / "scores.jsonl", rows)
    metrics = summarise(rows, list(suite.scorers))
    usage_path = write_judge_usage(run_dir)

    # the key really was sent, and the 401 is an excluded judge error, not a zero
    assert all(fake_key in json.dumps(r["headers"]) for r in messages_server.requests)
    judged = [r for r in rows if r["scorer"] == "quality"]
    assert judged[0]["value"] is None and "HTTP 401" in judged[0]["error"]
    assert "[redacted]" in judged[0]["error"]
    quality = metrics["quality"]
    assert (quality["n"], quality["errors"], quality["mean"]) == (5, 1, 6.0)
    assert "[redacted]" in judged[1]["details"]["judge"]["reply"]

    usage = read_json(usage_path, "judge usage")["scorers"]["quality"]
    assert usage_path.name == "judge_usage.json" and usage["samples"] == 6 and usage["judge_errors"] == 1
    assert usage["calls"] == 6 and usage["cached_calls"] == 0
    assert usage["input_tokens"] == sum(r["details"]["judge"]["usage"]["input_tokens"] for r in judged)
    assert usage["cost_usd"] == round(usage["input_tokens"] * 1e-6 + usage["output_tokens"] * 5e-6, 6)

    needle = fake_key.encode()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "judge_cache.sqlite" for p in written) and usage_path in written
    leaks = [str(p) for p in written if needle in p.read_bytes()]
    assert leaks == []
    assert fake_key not in caplog.text
