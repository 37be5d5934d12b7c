"""The wheel ships every suite: built from a copy of the tree, installed with --target, loaded by name.

Marked ``slow`` (a wheel build and a pip install, about 15 s); ``-m "not slow"`` skips it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from evalkit.suite.loader import SUITES_ROOT

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")


def _pip(*args: str, cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args, "-q", "--disable-pip-version-check"],
                          cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


def _shipped_files() -> set[str]:
    files = set()
    for path in SUITES_ROOT.rglob("*"):
        relative = path.relative_to(SUITES_ROOT)
        if path.is_file() and "__pycache__" not in relative.parts and not relative.name.startswith("."):
            files.add(f"evalkit/suites/{relative.as_posix()}")
    return files


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a clean copy of the package (the worktree gets no build/ or egg-info)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    shutil.copytree(REPO / "evalkit", source / "evalkit", ignore=SKIP)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    _pip("wheel", "./source", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), cwd=tmp)
    [built] = (tmp / "dist").glob("evalkit-*.whl")
    return built


def test_the_wheel_holds_every_shipped_suite_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = _shipped_files()
    assert len(expected) >= 28 and "evalkit/suites/support-triage/test.jsonl" in expected
    assert expected - names == set()
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_installed_package_loads_a_suite_by_name_from_another_folder(wheel, tmp_path):
    target = tmp_path / "site"
    _pip("install", "--no-deps", "--target", str(target), str(wheel), cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import evalkit.suite.loader as l; s = l.load_suite('support-triage'); "
            "print(l.SUITES_ROOT); print(len(s.samples))")
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    root, count = done.stdout.split()
    assert Path(root) == target / "evalkit" / "suites"
    assert int(count) == 160


def test_the_wheel_ships_the_comparison_json_schema(wheel):
    shipped = zipfile.ZipFile(wheel).read("evalkit/compare/comparison.schema.json").decode("utf-8")
    assert shipped == (REPO / "evalkit" / "compare" / "comparison.schema.json").read_text(encoding="utf-8")


def test_the_wheel_ships_the_decode_attention_source(wheel):
    shipped = zipfile.ZipFile(wheel).read("evalkit/models/csrc/decode_attention.cpp")
    assert shipped == (REPO / "evalkit" / "models" / "csrc" / "decode_attention.cpp").read_bytes()
