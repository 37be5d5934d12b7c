"""Interrupting `evalkit run` / `evalkit compare` (SIGINT, SIGTERM) loses no finished work, and resuming
recomputes nothing that is on disk and ends with exactly the results of an uninterrupted run.

The interrupted commands are real ``evalkit`` subprocesses on the tiny model
(batch size 2, so batches are flushed often); the uninterrupted references and
the resumes run in process through the same CLI. The generation cache is off
throughout, so the only way to skip work is the run directory itself.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from relkit import EVALKIT, invoke, scripted_arm, subprocess_env, write_jsonl, write_yaml

from evalkit.compare.rundata import load_run_dir
from evalkit.runner.run import run_suite
from evalkit.runner.store import read_jsonl_tolerant
from evalkit.suite.loader import load_suite

N_SAMPLES = 60
COMPARE_LIMIT = 16


@pytest.fixture(scope="module")
def setup(tiny_model_dir, tmp_path_factory):
    """Specs, a 60-sample suite and the uninterrupted reference run (in process)."""
    import os

    root = tmp_path_factory.mktemp("interrupt")
    home = root / "home"
    previous = os.environ.get("EVALKIT_HOME")
    os.environ["EVALKIT_HOME"] = str(home)
    rows = [
        {"id": f"s{i:03d}", "input": f"item {i} says {i * 7 % 13} and {i % 5}", "target": str(i % 3)}
        for i in range(N_SAMPLES)
    ]
    suite = root / "suite"
    write_jsonl(suite / "data.jsonl", rows)
    write_yaml(
        suite / "suite.yaml",
        {
            "name": "long",
            "kind": "regression",
            "data": "data.jsonl",
            "generation": {"max_new_tokens": 8},
            "scorers": [{"name": "exact_match"}, {"name": "length", "options": {"max": 6}}],
        },
    )
    spec_a = write_yaml(root / "a.yaml", {"name": "a", "base": str(tiny_model_dir), "batch_size": 2})
    spec_b = write_yaml(
        root / "b.yaml",
        {"name": "b", "base": str(tiny_model_dir), "batch_size": 2, "system_prompt": "Be brief."},
    )
    code, output = invoke("run", spec_a, "-s", suite, "--out", root / "ref-run", "--no-cache")
    assert code == 0, output
    code, output = invoke(
        "compare",
        spec_a,
        spec_b,
        "-s",
        suite,
        "--limit",
        COMPARE_LIMIT,
        "--out",
        root / "ref" / "cmp",
        "--no-cache",
    )
    assert code == 0, output
    yield {"root": root, "home": home, "suite": suite, "a": spec_a, "b": spec_b}
    if previous is None:
        os.environ.pop("EVALKIT_HOME", None)
    else:
        os.environ["EVALKIT_HOME"] = previous


def _run_dir(root: Path, arm: str = "a") -> Path:
    [header] = [p for p in root.rglob("run.json") if p.parent.parent.name.startswith(f"{arm}-")]
    return header.parent


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _interrupt(args: list, watch: Callable[[], int], at_least: int, sig: int, home: Path, log: Path):
    """Start ``evalkit ARGS``, wait until ``watch() >= at_least``, send ``sig``; (rc, output, seen)."""
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [str(EVALKIT), *map(str, args)],
            env=subprocess_env(home),
            stdout=err,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # even if we ignore SIGINT
        )
        deadline = time.monotonic() + 240
        try:
            while watch() < at_least:
                assert proc.poll() is None, f"evalkit ended before the signal:\n{log.read_text()}"
                assert time.monotonic() < deadline, "no generations appeared in time"
                time.sleep(0.005)  # the tiny model finishes an arm in a fraction of a second
            seen = watch()
            proc.send_signal(sig)
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    return code, log.read_text(errors="replace"), seen


def _without_timing(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "latency_s"}


def _table_row(output: str, suite: str) -> list[str]:
    """The cells of the `evalkit run` results table row for ``suite``."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells and cells[0] == suite:
            return cells
    raise AssertionError(f"no table row for {suite!r} in:\n{output}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_run_interrupted_then_resumed(setup, tmp_path, sig):
    out = tmp_path / "run"
    args = ["run", setup["a"], "-s", setup["suite"], "--out", out, "--no-cache"]
    gens = lambda: sum(_lines(p) for p in out.rglob("generations.jsonl"))  # noqa: E731
    code, log, seen = _interrupt(args, gens, 6, sig, setup["home"], tmp_path / "log.txt")

    assert code == 130, log
    assert "interrupted" in log and "--resume" in log, log
    assert "Traceback" not in log, log
    run_dir = _run_dir(out)
    kept = read_jsonl_tolerant(run_dir / "generations.jsonl")
    assert (run_dir / "generations.jsonl").read_bytes().endswith(b"\n")  # no torn line
    assert seen <= len(kept) < N_SAMPLES, "finished samples were lost, or the run was not interrupted"
    assert not (run_dir / "metrics.json").exists()
    reference_dir = _run_dir(setup["root"] / "ref-run")
    reference = {r["sample_id"]: r for r in read_jsonl_tolerant(reference_dir / "generations.jsonl")}
    for row in kept:  # what was kept is exactly what the uninterrupted run produced
        assert _without_timing(row) == _without_timing(reference[row["sample_id"]])

    code, output = invoke(*args[:-1], "--resume", "--no-cache")
    assert code == 0, output
    cells = _table_row(output, "long")
    generated, reused = int(cells[5]), int(cells[6])
    assert (generated, reused) == (N_SAMPLES - len(kept), len(kept)), output

    final = sorted(read_jsonl_tolerant(run_dir / "generations.jsonl"), key=lambda r: r["sample_id"])
    assert [_without_timing(r) for r in final] == [_without_timing(reference[r["sample_id"]]) for r in final]
    assert len(final) == N_SAMPLES
    ours = sorted((run_dir / "scores.jsonl").read_bytes().splitlines())
    theirs = sorted((reference_dir / "scores.jsonl").read_bytes().splitlines())
    assert ours == theirs
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["metrics"] == json.loads((reference_dir / "metrics.json").read_text())["metrics"]


VOLATILE = {"created", "finished", "timings", "generate_s", "score_s", "total_s", "arms_s", "versions"}


def _stable(obj):
    """A comparison without timestamps and timings."""
    if isinstance(obj, dict):
        return {k: _stable(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_stable(v) for v in obj]
    return obj


@pytest.mark.parametrize("sig", [signal.SIGTERM], ids=["SIGTERM"])
def test_compare_interrupted_then_rerun(setup, tmp_path, sig):
    out = tmp_path / "cmp"
    args = [
        "compare",
        setup["a"],
        setup["b"],
        "-s",
        setup["suite"],
        "--limit",
        COMPARE_LIMIT,
        "--out",
        out,
        "--no-cache",
    ]
    # Interrupt mid-way: the first arm is finished, the second has started.
    second = lambda: sum(_lines(p) for p in out.glob("runs/b-*/*/generations.jsonl"))  # noqa: E731
    code, log, _ = _interrupt(args, second, 4, sig, setup["home"], tmp_path / "log.txt")
    assert code == 130, log
    assert "interrupted" in log and "Traceback" not in log, log
    assert not (out / "comparison.json").exists()
    first_done = len(read_jsonl_tolerant(_run_dir(out, "a") / "generations.jsonl"))
    second_done = len(read_jsonl_tolerant(_run_dir(out, "b") / "generations.jsonl"))
    assert first_done == COMPARE_LIMIT and 4 <= second_done < COMPARE_LIMIT, (first_done, second_done)

    code, output = invoke(*args)
    assert code == 0, output
    ours = _stable(json.loads((out / "comparison.json").read_text()))
    reference = _stable(json.loads((setup["root"] / "ref" / "cmp" / "comparison.json").read_text()))
    assert ours == reference
    generated = [
        json.loads(line)
        for p in out.glob("runs/*/*/generations.jsonl")
        for line in p.read_text().splitlines()
    ]
    assert len(generated) == 2 * COMPARE_LIMIT  # nothing generated twice


def test_resume_after_a_torn_last_line(tmp_path, isolated_home):
    """A kill -9 mid-write leaves half a row: resume drops it, and the run file stays readable."""
    rows = [{"id": f"t{i}", "input": f"say t{i}", "target": f"t{i}"} for i in range(8)]
    write_jsonl(tmp_path / "suite" / "data.jsonl", rows)
    write_yaml(
        tmp_path / "suite" / "suite.yaml",
        {"name": "torn", "data": "data.jsonl", "scorers": [{"name": "exact_match"}]},
    )
    suite = load_suite(str(tmp_path / "suite"))
    outputs = {r["id"]: r["id"] for r in rows}
    run_suite(scripted_arm("m", outputs), suite, tmp_path / "run", cache=None)
    path = tmp_path / "run" / "generations.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:3]) + "\n" + lines[3][:25])  # three rows and a torn fourth
    arm = scripted_arm("m", outputs)
    resumed = run_suite(arm, suite, tmp_path / "run", cache=None)
    written = {json.loads(line)["sample_id"] for line in lines[:3]}
    assert resumed.resumed == 3 and sorted(arm.backend.calls) == sorted({r["id"] for r in rows} - written)
    kept = read_jsonl_tolerant(path)  # raised "corrupt line" when the append was glued to the fragment
    assert sorted(r["sample_id"] for r in kept) == [r["id"] for r in rows]
    assert load_run_dir(tmp_path / "run").metrics["metrics"]["exact_match"]["mean"] == 1.0
    again = scripted_arm("m", outputs)
    assert run_suite(again, suite, tmp_path / "run", cache=None).resumed == 8 and again.backend.calls == []
