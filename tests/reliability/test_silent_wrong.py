"""Silent wrong results: every case here used to produce a plausible number that was wrong.

Real CLI; served arms talk to a loopback server that answers by model name, so
each arm's score is known in advance and a score under the wrong name shows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from relkit import FakeServer, invoke, write_jsonl, write_yaml

from evalkit.runner.store import dumps, write_json_atomic

ROWS = [{"id": f"q{i}", "input": f"Say q{i}", "target": f"q{i}"} for i in range(4)]


def _strict_json(text: str):
    """Parse as a strict JSON parser would: NaN / Infinity are errors."""
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def _suite(root: Path, name: str = "s", rows=ROWS, **fields) -> Path:
    write_jsonl(root / name / "data.jsonl", rows)
    write_yaml(root / name / "suite.yaml",
               {"name": name, "data": "data.jsonl", "scorers": [{"name": "exact_match"}], **fields})
    return root / name


@pytest.fixture()
def by_model():
    """Model 'right' answers every sample, 'wrong' none, 'half' the first two."""
    def chat(body):
        sid = body["messages"][-1]["content"].split()[-1]
        answer = {"right": sid, "wrong": "no", "half": sid if sid in ("q0", "q1") else "no"}[body["model"]]
        return 200, answer

    server = FakeServer(chat=chat)
    yield server
    server.close()


def test_colliding_arm_names_stay_distinct(tmp_path, isolated_home, by_model):
    """Specs named x, x-2, x: the third became a second 'x-2' and took that arm's place in every output."""
    spec = {"backend": "openai", "base_url": by_model.url}
    specs = [write_yaml(tmp_path / f"{i}.yaml", {"name": name, "model": model, **spec})
             for i, (name, model) in enumerate([("x", "right"), ("x-2", "wrong"), ("x", "half")])]
    code, output = invoke("compare", *specs, "-s", _suite(tmp_path), "--out", tmp_path / "cmp")
    assert code == 0, output
    comparison = _strict_json((tmp_path / "cmp" / "comparison.json").read_text())
    assert [a["name"] for a in comparison["arms"]] == ["x", "x-2", "x-3"]
    scores = comparison["suites"][0]["scores"]
    assert {arm: scores[arm]["mean"] for arm in scores} == {"x": 1.0, "x-2": 0.0, "x-3": 0.5}
    headers = {json.loads(p.read_text())["arm"]["name"] for p in (tmp_path / "cmp").rglob("run.json")}
    assert headers == {"x", "x-2", "x-3"}


def test_a_spec_named_like_the_baseline_arm_is_renamed(tmp_path, isolated_home, by_model):
    spec = write_yaml(tmp_path / "m.yaml", {"name": "baseline:bl", "backend": "openai",
                                            "base_url": by_model.url, "model": "right"})
    suite = _suite(tmp_path)
    code, output = invoke("run", spec, "-s", suite, "--out", tmp_path / "o")
    assert code == 0, output
    code, output = invoke("baseline", "save", tmp_path / "o", "--name", "bl", "--directory", tmp_path)
    assert code == 0, output
    code, output = invoke("compare", spec, "-s", suite, "--against", tmp_path / "bl.json",
                          "--out", tmp_path / "cmp")
    assert code == 0, output
    comparison = _strict_json((tmp_path / "cmp" / "comparison.json").read_text())
    assert [a["name"] for a in comparison["arms"]] == ["baseline:bl", "baseline:bl-2"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_byte_order_mark_keeps_the_id_column(fmt, tmp_path, isolated_home, by_model):
    """An Excel CSV starts with a BOM: its first column was read as '\\ufeffid' and the ids were lost."""
    folder = tmp_path / "bom"
    folder.mkdir()
    if fmt == "csv":
        text = "id,input,target\r\n" + "".join(f"{r['id']},{r['input']},{r['target']}\r\n" for r in ROWS)
    elif fmt == "jsonl":
        text = "".join(json.dumps(r) + "\n" for r in ROWS)
    else:
        text = json.dumps(ROWS)
    (folder / f"data.{fmt}").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    write_yaml(folder / "suite.yaml",
               {"name": "bom", "data": f"data.{fmt}", "scorers": [{"name": "exact_match"}]})
    spec = write_yaml(tmp_path / "m.yaml", {"name": "m", "backend": "openai", "base_url": by_model.url,
                                            "model": "right"})
    code, output = invoke("run", spec, "-s", folder, "--out", tmp_path / "o")
    assert code == 0, output
    [scores] = list((tmp_path / "o").rglob("scores.jsonl"))
    rows = [json.loads(line) for line in scores.read_text().splitlines()]
    assert sorted(r["sample_id"] for r in rows) == [r["id"] for r in ROWS]
    assert all(r["value"] == 1.0 for r in rows)


def test_bom_in_yaml_and_baseline_files_is_accepted(tmp_path, isolated_home, by_model):
    suite = _suite(tmp_path)
    text = (suite / "suite.yaml").read_text()
    (suite / "suite.yaml").write_bytes(b"\xef\xbb\xbf" + text.encode())
    spec = tmp_path / "m.yaml"
    text = f"name: m\nbackend: openai\nbase_url: {by_model.url}\nmodel: right\n"
    spec.write_bytes(b"\xef\xbb\xbf" + text.encode())
    code, output = invoke("run", spec, "-s", suite, "--out", tmp_path / "o")
    assert code == 0, output
    code, output = invoke("baseline", "save", tmp_path / "o", "--name", "bl", "--directory", tmp_path / "b")
    assert code == 0, output
    baseline = tmp_path / "b" / "bl.json"
    baseline.write_bytes(b"\xef\xbb\xbf" + baseline.read_bytes())
    code, output = invoke("run", spec, "-s", suite, "--out", tmp_path / "o", "--against", baseline)
    assert code == 0, output


def test_names_never_escape_their_folder(tmp_path, isolated_home, by_model):
    """A suite named '..' wrote its run one folder up; `baseline save --name ../../x` wrote outside."""
    spec = write_yaml(tmp_path / "m.yaml",
                      {"name": "../../arm", "backend": "openai", "base_url": by_model.url, "model": "right"})
    (tmp_path / "work").mkdir()
    suite = _suite(tmp_path / "work", "dots")
    write_yaml(suite / "suite.yaml",
               {"name": "..", "data": "data.jsonl", "scorers": [{"name": "exact_match"}]})
    out = tmp_path / "work" / "out"
    code, output = invoke("run", spec, "-s", suite, "--out", out)
    assert code == 0, output
    run_files = ("run.json", "metrics.json", "generations.jsonl", "scores.jsonl")
    written = sorted(p for p in tmp_path.rglob("*") if p.name in run_files)
    assert written and all(out in p.parents for p in written), written
    [run_dir] = {p.parent for p in out.rglob("run.json")}
    assert run_dir.parent.parent == out and ".." not in run_dir.parts

    code, output = invoke("baseline", "save", out, "--name", "../../x", "--directory", tmp_path / "bl")
    assert code == 0, output
    [saved] = list(tmp_path.rglob("x*.json"))
    assert saved.parent == tmp_path / "bl" and saved.name.startswith("x-")
    assert json.loads(saved.read_text())["name"] == "../../x"  # the name itself is kept inside


def test_prompts_longer_than_the_context_are_reported(tmp_path, tiny_model_dir, isolated_home):
    """The tiny model has 512 positions: 2 of 4 prompts are longer. CLI, metrics.json and report say so."""
    rows = [*ROWS[:2], *({"id": f"long{i}", "input": "word " * 700, "target": "x"} for i in range(2))]
    suite = _suite(tmp_path, rows=rows, generation={"max_new_tokens": 2})
    one = write_yaml(tmp_path / "a.yaml", {"name": "a", "base": str(tiny_model_dir), "batch_size": 4})
    two = write_yaml(tmp_path / "b.yaml", {"name": "b", "base": str(tiny_model_dir), "batch_size": 4,
                                           "system_prompt": "Be brief."})
    code, output = invoke("compare", one, two, "-s", suite, "--out", tmp_path / "cmp", "--no-cache")
    assert code == 0, output
    needle = "2 of 4 sample(s) of 's' do not fit the model's context of 512 tokens"
    assert needle in " ".join(output.split())
    [metrics, *_] = sorted((tmp_path / "cmp").rglob("metrics.json"))
    assert any(needle in w for w in json.loads(metrics.read_text())["warnings"])
    comparison = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert any(needle in n for n in comparison["metadata"]["notices"])
    assert needle.replace("'", "&#39;") in (tmp_path / "cmp" / "index.html").read_text()
    code, output = invoke("score", metrics.parent)  # re-scoring keeps the warning
    assert code == 0, output
    assert any(needle in w for w in json.loads(metrics.read_text())["warnings"])


def test_non_finite_numbers_are_written_as_null(tmp_path):
    """NaN/Infinity made comparison.json invalid for strict parsers; every JSON writer maps them to null."""
    doc = {"mean": float("nan"), "ci": [float("-inf"), 1.0], "nested": {"x": float("inf")}, "ok": 0.5}
    write_json_atomic(tmp_path / "a.json", doc)
    assert _strict_json((tmp_path / "a.json").read_text()) == {
        "mean": None, "ci": [None, 1.0], "nested": {"x": None}, "ok": 0.5,
    }
    assert _strict_json(dumps([float("nan")])) == [None]
    from evalkit.report.html import json_for_script

    assert _strict_json(json_for_script({"v": float("nan")})) == {"v": None}
