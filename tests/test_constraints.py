"""requirements/constraints.txt pins what `make setup` installs, inside pyproject's ranges, and is current."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"
SCRIPT = ROOT / "scripts" / "freeze_constraints.py"
FAST_MOVING = {"transformers", "peft", "trl", "lm-eval", "bitsandbytes", "accelerate", "datasets"}


def _pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][^\s+;]*)", line)
        assert match, f"not an exact pin without a local label: {line!r}"
        pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def _project_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in project["dependencies"] + extras["dev"] + extras["serve"]]


def test_every_direct_requirement_is_pinned_inside_its_range():
    pins = _pins()
    assert "evalkit" not in pins and "pip" not in pins
    for req in _project_requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in {CONSTRAINTS.name}"
        assert req.specifier.contains(pins[name], prereleases=True), f"{req.name}=={pins[name]} outside {req}"


def test_fast_moving_packages_stop_before_their_next_major():
    pins, seen = _pins(), set()
    for req in _project_requirements():
        name = canonicalize_name(req.name)
        if name not in FAST_MOVING:
            continue
        seen.add(name)
        uppers = [Version(s.version) for s in req.specifier if s.operator == "<"]
        assert len(uppers) == 1, f"{req} needs one upper bound"
        pinned = Version(pins[name])
        assert pinned < uppers[0] <= Version(f"{pinned.major + 1}"), f"{req} vs the tested {pinned}"
    assert seen == FAST_MOVING


def test_make_setup_installs_with_the_constraints():
    makefile = (ROOT / "Makefile").read_text()
    lines = makefile.splitlines()
    installs = [line for line in lines if "pip install" in line and "--upgrade pip" not in line]
    assert len(installs) == 2 and all("-c $(CONSTRAINTS)" in line for line in installs)
    assert "CONSTRAINTS := requirements/constraints.txt" in makefile
    assert re.search(r"^constraints: .*\n\t\$\(PY\) scripts/freeze_constraints.py$", makefile, re.M)


def test_the_generator_writes_and_checks_a_constraints_file(tmp_path):
    out = tmp_path / "constraints.txt"
    run = [sys.executable, str(SCRIPT), "--out", str(out)]
    wrote = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert wrote.returncode == 0, wrote.stderr
    text = out.read_text()
    pins = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert not [p for p in pins if p.startswith(("evalkit", "-e", "pip=="))] and "+cpu" not in text
    assert re.search(r"^torch==\d", text, re.M) and re.search(r"^transformers==\d", text, re.M)
    assert subprocess.run([*run, "--check"], capture_output=True, text=True, timeout=120).returncode == 0
    out.write_text(text.replace("transformers==", "transformers==0.0.1+"))
    stale = subprocess.run([*run, "--check"], capture_output=True, text=True, timeout=120)
    assert stale.returncode == 1 and "out of date" in stale.stderr
