"""Hostile model outputs are stored intact, scored without crashing, and escaped in the report.

"Hostile" = HTML and ``<script>``, 1 MB of text, control characters, lone
surrogates (which a server can send as ``"\\ud800"`` in JSON but UTF-8 cannot
encode), huge and deeply nested JSON. Run files keep them exactly: lone
surrogates are written as ``\\udXXX`` JSON escapes (see ``evalkit.runner.store.dumps``),
so ``json.loads`` returns the very string the model produced.
"""

from __future__ import annotations

import json

import pytest
from evalkit_testing import CHARS_METRIC
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from relkit import FakeServer, invoke, scripted_arm, write_jsonl, write_yaml

from evalkit.compare.analysis import build_comparison
from evalkit.compare.orchestrate import write_outputs
from evalkit.compare.rundata import load_run_dir
from evalkit.report.html import render_html
from evalkit.runner.run import run_suite
from evalkit.runner.store import dumps, read_jsonl_tolerant
from evalkit.scorers.registry import build_scorer, scorer_names
from evalkit.suite.loader import load_suite
from evalkit.types import Generation, Sample, Score

XSS = "</script><script>alert('xss-1')</script>"
HOSTILE = {
    "html": "<b>bold</b><img src=x onerror=alert('xss-2')><!-- c --><a href='javascript:x'>l</a>",
    "script": XSS + "<style>body{display:none}</style>",
    "mega": ("word " * 200_000) + "<script>alert('xss-3')</script>",  # 1 MB
    "control": "a\x00b\x01c\x07d\x1b[31mred\x1b[0m\x7f\x85\u2028\u2029\ufeff\u202e!",
    "surrogates": "lone \ud800 high, \udfff low, reversed \udc00\ud800 end \ud83d",
    "huge_json": json.dumps({"items": [{"k": i, "v": "<x>" * 5} for i in range(20_000)]}),
    "deep_json": "[" * 50_000 + "]" * 50_000,
    "empty": "",
    "fence": '```json\n{"a": "</script>"}\n```',
}
SCORERS = [
    {"name": "exact_match"},
    {"name": "contains"},
    {"name": "not_contains", "options": {"strings": ["<script>"]}},
    {"name": "regex", "options": {"pattern": "<[a-z]+", "flags": "s"}},
    {"name": "length", "options": {"max": 50}},
    {"name": "json_valid", "options": {"allow_fence": True}},
    {"name": "json_schema", "options": {"schema": {"type": "object"}, "allow_fence": True}},
    {"name": "json_match", "options": {"allow_fence": True}},
    {"name": "rouge"},
]  # bleu is fuzzed below; on 1 MB it takes ~0.6 s a call, too slow to run three times here


def _suite(folder, rows=None):
    rows = rows or [{"id": key, "input": f"say {key}", "target": "<b>"} for key in HOSTILE]
    write_jsonl(folder / "data.jsonl", rows)
    write_yaml(folder / "suite.yaml", {"name": "hostile", "data": "data.jsonl", "scorers": SCORERS})
    return load_suite(str(folder))


def test_dumps_round_trips_lone_surrogates():
    for text in HOSTILE.values():
        line = dumps({"text": text})
        line.encode("utf-8")  # always writable as UTF-8
        assert json.loads(line)["text"] == text
    assert "é 日本" in dumps("é 日本")  # readable non-ASCII stays readable


def test_hostile_generations_round_trip_score_and_render(tmp_path, isolated_home):
    from evalkit.api import open_cache

    suite = _suite(tmp_path / "suite")
    arm = scripted_arm("hostile", HOSTILE)
    result = run_suite(arm, suite, tmp_path / "runs" / "hostile", cache=open_cache())
    raw = (result.out_dir / "generations.jsonl").read_bytes()
    raw.decode("utf-8")  # strict: the file is valid UTF-8
    rows = {r["sample_id"]: r for r in read_jsonl_tolerant(result.out_dir / "generations.jsonl")}
    assert {sid: r["text"] for sid, r in rows.items()} == HOSTILE  # byte-exact round trip

    scores = read_jsonl_tolerant(result.out_dir / "scores.jsonl")
    assert len(scores) == len(HOSTILE) * len(SCORERS)
    crashed = [r for r in scores if r["error"] and "raised" in r["error"]]
    assert not crashed, crashed
    assert result.metrics["metrics"]["exact_match"]["n"] == len(HOSTILE)

    # A second run: served from the cache, except the output UTF-8 cannot carry (never cached).
    again = run_suite(scripted_arm("hostile", HOSTILE), suite, tmp_path / "again", cache=open_cache())
    assert again.cached == len(HOSTILE) - 1 and again.generated == 1
    rows = read_jsonl_tolerant(again.out_dir / "generations.jsonl")
    assert {r["sample_id"]: r["text"] for r in rows} == HOSTILE

    benign = scripted_arm("benign", {k: f"plain answer {i}" for i, k in enumerate(HOSTILE)})
    ref = run_suite(benign, suite, tmp_path / "runs" / "benign", cache=None)
    samples = {s.id: s for s in suite.samples}
    runs = {
        "hostile": {n: load_run_dir(r.out_dir, samples) for n, r in (("benign", ref), ("hostile", result))}
    }
    arms = [
        {"name": "benign", "kind": "base", "fingerprint": "a", "spec": {}},
        {"name": "hostile", "kind": "tuned", "fingerprint": "b", "spec": {}},
    ]
    comparison = build_comparison("hostile <script>alert('xss-4')</script>", arms, runs)
    out = tmp_path / "report"
    write_outputs(comparison, out)
    stored = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    texts = {row["id"]: row["outputs"]["hostile"]["text"] for row in stored["samples"]["hostile"]}
    assert texts == HOSTILE

    html = (out / "index.html").read_bytes().decode("utf-8")
    _assert_escaped(html)
    assert "&lt;script&gt;alert(&#39;xss-1&#39;)" in html  # shown, as text
    (out / "summary.md").read_bytes().decode("utf-8")


def _assert_escaped(html: str) -> None:
    import plotly.offline

    # The bundled plotly.js has its own \x01; only what the report adds around it is checked.
    html = html.replace(plotly.offline.get_plotlyjs().replace("</script", "<\\/script"), "")
    for payload in ("<script>alert('xss", "<img src=x", "<style>body", "<a href='javascript"):
        assert payload not in html, payload
    for char in ("\x00", "\x01", "\x07", "\x1b", "\x7f", "\ud800"):
        assert char not in html, repr(char)


def test_hostile_outputs_from_a_served_model_end_to_end(tmp_path, isolated_home):
    """Through the real CLI and the openai backend: the server's JSON carries ``\\ud800`` escapes."""
    keys = list(HOSTILE)
    server = FakeServer()
    server.chat = lambda body: (200, HOSTILE[body["messages"][-1]["content"].split()[-1]])
    try:
        write_jsonl(
            tmp_path / "suite" / "data.jsonl", [{"id": k, "input": f"say {k}", "target": "x"} for k in keys]
        )
        write_yaml(
            tmp_path / "suite" / "suite.yaml",
            {"name": "hostile", "data": "data.jsonl", "scorers": SCORERS[:6]},
        )
        spec = {"backend": "openai", "base_url": server.url, "chat_template": "auto"}
        one = write_yaml(tmp_path / "one.yaml", {"name": "one", "model": "m1", **spec})
        two = write_yaml(tmp_path / "two.yaml", {"name": "two", "model": "m2", **spec})
        code, output = invoke("compare", one, two, "-s", tmp_path / "suite", "--out", tmp_path / "cmp")
    finally:
        server.close()
    assert code == 0, output
    assert "Traceback" not in output
    [gens] = list((tmp_path / "cmp").glob("runs/one-*/hostile/generations.jsonl"))
    assert {r["sample_id"]: r["text"] for r in read_jsonl_tolerant(gens)} == HOSTILE
    _assert_escaped((tmp_path / "cmp" / "index.html").read_text(encoding="utf-8"))


# ----- fuzzing every registered scorer and the report renderer -----

IFEVAL = {"instruction_id_list": ["detectable_format:json_format"], "kwargs": [{}]}


def _minimal_options(judge_url: str) -> dict[str, tuple[dict, object, dict]]:
    """(options, target, metadata) for every registered scorer: the least each needs to build."""
    judge = {
        "backend": "openai-compatible",
        "model": "fake-judge",
        "base_url": judge_url,
        "cache": False,
        "max_retries": 0,
    }
    return {
        "exact_match": ({}, "4", {}),
        "choice": ({"labels": ["A", "B"]}, "A", {}),
        "contains": ({}, ["a"], {}),
        "not_contains": ({"strings": ["x"]}, None, {}),
        "regex": ({"pattern": "a+"}, None, {}),
        "length": ({"max": 10}, None, {}),
        "rouge": ({}, "the cat", {}),
        "bleu": ({}, "the cat sat", {}),
        "json_valid": ({}, None, {}),
        "json_schema": ({"schema": {"type": "object"}}, None, {}),
        "json_match": ({}, {"a": 1}, {}),
        "hf_evaluate": ({"metric": "chars"}, "ref", {}),
        "ifeval": ({}, None, IFEVAL),
        "judge_rubric": ({**judge, "rubric": "Is it polite?", "scale": [1, 5]}, None, {}),
        "judge_reference": (judge, "Paris", {}),
    }


def _judge_reply(body: dict) -> tuple[int, str]:
    system = body["messages"][0]["content"]
    return 200, (
        '{"verdict": "correct", "reason": "ok"}' if '"verdict"' in system else '{"score": 3, "reason": "ok"}'
    )


@pytest.fixture(scope="module")
def every_scorer(tmp_path_factory):
    """Every registered scorer, built with minimal options (judges talk to a loopback fake judge)."""
    server = FakeServer(chat=_judge_reply)
    suite_dir = tmp_path_factory.mktemp("fuzz-suite")
    (suite_dir / "chars").mkdir()
    (suite_dir / "chars" / "chars.py").write_text(CHARS_METRIC)
    table = _minimal_options(server.url)
    built = {}
    for name, (options, target, metadata) in table.items():
        fn = build_scorer(name, options, suite_dir=suite_dir, where=f"fuzz:{name}")
        built[name] = (fn, Sample(id=name, input="Write hello.", target=target, metadata=metadata))
    yield table, built
    server.close()


def test_fuzz_table_covers_every_registered_scorer(every_scorer):
    table, _ = every_scorer
    assert set(table) == set(scorer_names())  # a new scorer must be added to the fuzz table


TEXT = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=300),
    st.sampled_from(list(HOSTILE.values())),
    st.text(alphabet="{}[]\",:0123456789.eE-abc <>/&'\n`*#json", max_size=200),
    st.builds(
        lambda a, s, b: a + s + b, st.text(max_size=40), st.sampled_from(["\ud800", "\udfff"]), st.text()
    ),
)


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXT)
def test_fuzz_every_scorer_returns_a_score(every_scorer, text):
    _, built = every_scorer
    for name, (fn, sample) in built.items():
        generation = Generation(sample_id=sample.id, text=text, new_tokens=3)
        score = fn(sample, generation)
        assert isinstance(score, Score), name
        if name.startswith("judge_"):  # a judge may fail on an output (then it is an error, never a zero)
            assert score.error is None or score.value is None, name
        else:
            assert score.error is None, f"{name}: {score.error}"
        assert score.value is None or score.value == score.value, name  # never NaN
        batch = getattr(fn, "score_batch", None)
        if batch is not None:
            assert len(batch([sample], [generation])) == 1


@pytest.fixture(scope="module")
def base_comparison(tmp_path_factory):
    """A real comparison of two scripted arms, to inject arbitrary strings into."""
    root = tmp_path_factory.mktemp("fuzz-report")
    rows = [{"id": f"s{i}", "input": f"q{i}", "target": "a", "metadata": {"cat": "c"}} for i in range(4)]
    suite = _suite(root / "suite", rows)
    outputs = {"ref": {f"s{i}": "a" for i in range(4)}, "cand": {f"s{i}": "ab"[i % 2] for i in range(4)}}
    runs = {}
    for name, texts in outputs.items():
        result = run_suite(scripted_arm(name, texts), suite, root / name, cache=None)
        runs[name] = load_run_dir(result.out_dir, {s.id: s for s in suite.samples})
    arms = [{"name": n, "kind": "base", "fingerprint": n, "spec": {}} for n in outputs]
    return build_comparison("fuzz", arms, {"hostile": runs})


@settings(max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXT)
def test_fuzz_report_renderer(base_comparison, text):
    comparison = json.loads(json.dumps(base_comparison))
    marker = "<script>alert('fuzz')</script>"
    evil = marker + text
    comparison["name"] = evil
    comparison["metadata"]["notices"] = [evil]
    for row in comparison["samples"]["hostile"]:
        row["input"] = evil
        row["target"] = evil
        for out in row["outputs"].values():
            out["text"] = evil
            out["explanation"] = evil
    for flip in comparison["flips"]:
        flip["candidate_output"] = evil
        flip["input"] = evil
    html = render_html(comparison)
    html.encode("utf-8")  # always writable
    _assert_escaped(html)
    assert marker not in html
