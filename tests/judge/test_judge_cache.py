"""The SQLite judge cache: re-runs cost zero calls; a changed rubric or output re-judges only what changed."""

from __future__ import annotations

import sqlite3

from loopback_messages import rubric_options

from evalkit.home import evalkit_home
from evalkit.scorers.registry import build_scorer
from evalkit.types import Generation, Sample

SAMPLES = [Sample(id=f"s{i}", input=f"Can I return item {i}?") for i in range(4)]
OUTPUTS = ["Yes, within 30 days.", "Yes: print the label from your account.", "Sure, 30 days.", "No."]


def _run(server, outputs=OUTPUTS, **options):
    fn = build_scorer("judge_rubric", rubric_options(server, **options))
    before = server.count
    scores = fn.score_batch(SAMPLES, [Generation(s.id, t) for s, t in zip(SAMPLES, outputs)])
    return scores, server.count - before, fn


def test_second_run_makes_zero_calls(fake_key, messages_server):
    first, calls, _ = _run(messages_server)
    assert calls == 4 and not any(s.details["judge"]["cached"] for s in first)
    second, calls, fn = _run(messages_server)
    assert calls == 0
    assert [s.value for s in second] == [s.value for s in first]
    assert all(s.details["judge"]["cached"] and s.details["judge"]["usage"]["calls"] == 0 for s in second)
    assert all(s.details["judge"]["reply"] == f.details["judge"]["reply"] for s, f in zip(second, first))
    assert fn.usage_summary()["cached_calls"] == 4 and fn.usage_summary()["calls"] == 0


def test_changed_rubric_rejudges_and_changed_output_rejudges_only_that_sample(fake_key, messages_server):
    _run(messages_server)
    _, calls, _ = _run(messages_server, rubric="Only politeness matters.")
    assert calls == 4
    changed = [*OUTPUTS[:2], "Yes, you can return it within 30 days of delivery.", OUTPUTS[3]]
    scores, calls, _ = _run(messages_server, outputs=changed)
    assert calls == 1
    assert [s.details["judge"]["cached"] for s in scores] == [True, True, False, True]
    _, calls, _ = _run(messages_server, scale=[1, 5], pass_threshold=3)
    assert calls == 4  # a different scale is a different judgement


def test_judge_parameters_and_model_are_part_of_the_key(fake_key, messages_server):
    _run(messages_server)
    assert _run(messages_server, max_tokens=200)[1] == 4
    assert _run(messages_server, model="claude-other")[1] == 4
    assert _run(messages_server, cache=False)[1] == 4


def test_failed_calls_are_not_cached(fake_key, messages_server):
    from loopback_messages import Step

    messages_server.script = [Step(status=400, error_message="bad request")]
    first, _, _ = _run(messages_server, max_concurrency=1)
    assert first[0].value is None
    _, calls, _ = _run(messages_server)
    assert calls == 1  # only the failed sample is asked again


def test_cache_file_is_sqlite_in_wal_mode_under_home(fake_key, messages_server):
    _run(messages_server)
    path = evalkit_home() / "judge_cache.sqlite"
    assert path.is_file()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        query = "SELECT backend, model, rubric_sha, prompt_sha, params_sha FROM judge_cache"
        rows = conn.execute(query).fetchall()
    assert len(rows) == 4 and {r[:2] for r in rows} == {("anthropic", "claude-loopback")}
    assert len({r[3] for r in rows}) == 4 and len({r[2] for r in rows}) == 1
