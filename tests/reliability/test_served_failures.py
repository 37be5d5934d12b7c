"""Failures of a served model are per-sample errors with reasons: excluded from metrics (never zeros),
counted, stated in the comparison and the report, and retried when the run is resumed.
"""

from __future__ import annotations

import json

import pytest
from relkit import FakeServer, invoke, scripted_arm, write_jsonl, write_yaml

from evalkit.compare.analysis import build_comparison
from evalkit.compare.orchestrate import write_outputs
from evalkit.compare.rundata import load_run_dir
from evalkit.runner.run import run_suite
from evalkit.runner.store import read_jsonl_tolerant
from evalkit.suite.loader import load_suite

IDS = [f"q{i}" for i in range(10)]
FAILED = {
    "q2": "HTTP 503: upstream overloaded (gave up after 3 attempts)",
    "q5": "timed out after 60s",
    "q7": "malformed response: no choices in '{}'",
}


@pytest.fixture()
def suite(tmp_path):
    rows = [{"id": sid, "input": f"Say {sid}", "target": sid} for sid in IDS]
    write_jsonl(tmp_path / "suite" / "data.jsonl", rows)
    write_yaml(
        tmp_path / "suite" / "suite.yaml",
        {"name": "echo", "data": "data.jsonl", "scorers": [{"name": "exact_match"}, {"name": "contains"}]},
    )
    return load_suite(str(tmp_path / "suite"))


def test_failed_samples_are_excluded_counted_stated_and_retried(suite, tmp_path, isolated_home):
    correct = {sid: sid for sid in IDS}
    flaky = scripted_arm("flaky", correct, errors=FAILED)
    result = run_suite(flaky, suite, tmp_path / "runs" / "flaky", cache=None)

    gens = {g["sample_id"]: g for g in read_jsonl_tolerant(result.out_dir / "generations.jsonl")}
    assert {sid: g["error"] for sid, g in gens.items() if g["error"]} == FAILED  # reasons kept per sample
    for key in ("exact_match", "contains"):
        m = result.metrics["metrics"][key]
        assert m["errors"] == 3 and m["n"] == 7
        assert m["mean"] == 1.0  # the 7 answered samples are all right: failures are not zeros
        assert m["excluded_reason"].startswith("3 sample(s) excluded: generation failed: ")
    assert result.metrics["generation"]["errors"] == 3
    scores = [r for r in read_jsonl_tolerant(result.out_dir / "scores.jsonl") if r["sample_id"] in FAILED]
    assert all(r["value"] is None and r["error"].startswith("generation failed: ") for r in scores)

    ref = run_suite(scripted_arm("ref", correct), suite, tmp_path / "runs" / "ref", cache=None)
    samples = {s.id: s for s in suite.samples}
    runs = {
        "echo": {"ref": load_run_dir(ref.out_dir, samples), "flaky": load_run_dir(result.out_dir, samples)}
    }
    arms = [
        {"name": "ref", "kind": "base", "fingerprint": "r", "spec": {}},
        {"name": "flaky", "kind": "tuned", "fingerprint": "f", "spec": {}},
    ]
    comparison = build_comparison("failures", arms, runs)
    [block] = comparison["suites"]
    assert block["scores"]["flaky"]["errors"] == 3 and block["scores"]["flaky"]["n"] == 7
    assert block["scores"]["flaky"]["mean"] == 1.0
    [delta] = block["deltas"]
    assert delta["n"] == 7 and delta["n_excluded"] == 3 and delta["delta"] == 0.0
    [notice] = comparison["metadata"]["notices"]
    assert "echo · flaky: 3 sample(s) excluded" in notice and "never counted as 0" in notice

    write_outputs(comparison, tmp_path / "report")
    html = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert "3 sample(s) excluded: generation failed: HTTP 503: upstream overloaded" in html
    assert "error: generation failed: HTTP 503: upstream overloaded" in html  # per-sample reason
    summary = (tmp_path / "report" / "summary.md").read_text(encoding="utf-8")
    assert "3 sample(s) excluded" in summary

    # Resuming retries exactly the failed samples; once they answer, nothing is excluded.
    fixed = scripted_arm("flaky", correct)
    resumed = run_suite(fixed, suite, tmp_path / "runs" / "flaky", cache=None)
    assert sorted(fixed.backend.calls) == sorted(FAILED)
    assert resumed.metrics["metrics"]["exact_match"]["errors"] == 0
    assert resumed.metrics["metrics"]["exact_match"]["n"] == 10


def test_all_samples_failing_gives_no_score_not_zero(suite, tmp_path, isolated_home):
    arm = scripted_arm("down", {}, errors={sid: "connection refused" for sid in IDS})
    result = run_suite(arm, suite, tmp_path / "down", cache=None)
    m = result.metrics["metrics"]["exact_match"]
    assert m["mean"] is None and m["n"] == 0 and m["errors"] == 10
    assert "10 sample(s) excluded: generation failed: connection refused" in m["excluded_reason"]


def test_served_model_failures_through_the_cli(tmp_path, isolated_home, monkeypatch):
    """The openai backend against a server that fails some requests: the CLI states the exclusion."""
    from evalkit.models import http_retry

    monkeypatch.setattr(http_retry, "DEFAULT_RETRY", http_retry.RetryPolicy(attempts=2, base_delay=0.01))

    def chat(body):
        sid = body["messages"][-1]["content"].split()[-1]
        return (503, "upstream overloaded") if sid in FAILED else (200, sid)

    server = FakeServer(chat=chat)
    try:
        rows = [{"id": sid, "input": f"Say {sid}", "target": sid} for sid in IDS]
        write_jsonl(tmp_path / "suite" / "data.jsonl", rows)
        write_yaml(
            tmp_path / "suite" / "suite.yaml",
            {"name": "echo", "data": "data.jsonl", "scorers": [{"name": "exact_match"}]},
        )
        spec = {"backend": "openai", "base_url": server.url}
        one = write_yaml(tmp_path / "one.yaml", {"name": "one", "model": "m1", **spec})
        two = write_yaml(tmp_path / "two.yaml", {"name": "two", "model": "m2", **spec})
        code, output = invoke("compare", one, two, "-s", tmp_path / "suite", "--out", tmp_path / "cmp")
    finally:
        server.close()
    assert code == 0, output
    flat = " ".join(output.split())
    assert "echo · one: 3 sample(s) excluded: generation failed: HTTP 503" in flat, output
    assert "echo · two: 3 sample(s) excluded" in flat
    comparison = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert comparison["suites"][0]["scores"]["one"]["errors"] == 3
    assert comparison["suites"][0]["scores"]["one"]["mean"] == 1.0
    html = (tmp_path / "cmp" / "index.html").read_text()
    row = html[html.index('<section id="scores">'):]
    row = row[: row.index("</table>")]
    # the score of the 7 answered samples is shown, and the exclusion beside it (was: only the exclusion)
    assert "excluded: 3 sample(s) excluded: generation failed: HTTP 503" in row
    assert row.count(">7<") >= 2  # n = 7 for both arms
