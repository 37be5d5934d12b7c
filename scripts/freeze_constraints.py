"""Write requirements/constraints.txt: the exact versions `make setup` installs, from a working venv.

Run it with the venv's interpreter after the tests pass (``make constraints``)::

    .venv/bin/python scripts/freeze_constraints.py            # writes requirements/constraints.txt
    .venv/bin/python scripts/freeze_constraints.py --check    # exit 1 when the file is out of date

It takes ``pip freeze`` of that interpreter and keeps the packages ``make
setup`` installs: everything ``evalkit[dev,serve]`` requires, transitively
(markers evaluated for this platform, requested extras followed). evalkit
itself, editable installs and anything else installed into the venv by hand
are left out (and listed on stderr). Local version labels are dropped
(``torch==2.13.0+cpu`` becomes ``torch==2.13.0``) so the file works against
any index; the Makefile chooses the CPU build of torch.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "requirements" / "constraints.txt"
PROJECT = "evalkit"
EXTRAS = ("dev", "serve")
HEADER = """\
# Exact versions of everything `make setup` installs (evalkit[dev,serve] and its dependencies),
# the versions the test suite passed with. `make setup` passes this file to pip with -c; library
# users get the ranges in pyproject.toml instead. Regenerate from a venv where the tests pass:
#   make constraints        (scripts/freeze_constraints.py; --check verifies it is current)
"""


def _requirements(dist: str, extras: set[str]) -> list[Requirement]:
    """The requirements of an installed distribution that apply here with ``extras`` requested."""
    out = []
    for text in metadata.requires(dist) or []:
        req = Requirement(text)
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras | {""}):
            out.append(req)
    return out


def closure(project: str = PROJECT, extras: tuple[str, ...] = EXTRAS) -> tuple[set[str], list[str]]:
    """Canonical names of everything ``project[extras]`` needs, and requirements that are not installed."""
    seen: set[tuple[str, frozenset]] = set()
    names: set[str] = set()
    missing: list[str] = []
    stack = [(project, frozenset(extras))]
    while stack:
        name, wanted = stack.pop()
        if (name, wanted) in seen:
            continue
        seen.add((name, wanted))
        try:
            reqs = _requirements(name, set(wanted))
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        names.add(canonicalize_name(name))
        stack.extend((req.name, frozenset(req.extras)) for req in reqs)
    return names - {canonicalize_name(project)}, sorted(set(missing))


def frozen() -> list[tuple[str, str]]:
    """(name, version) pairs from ``pip freeze`` of this interpreter, editable installs excluded."""
    text = subprocess.run([sys.executable, "-m", "pip", "freeze", "--all", "--exclude-editable",
                           "--disable-pip-version-check"], capture_output=True, text=True, check=True).stdout
    pairs = []
    for line in text.splitlines():
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line.strip())
        if match:  # skips comments, `-e` lines and `name @ url` installs
            pairs.append((match.group(1), match.group(2).split("+")[0]))
    return pairs


def render() -> tuple[str, list[str], list[str]]:
    """The constraints text, the frozen packages left out, and needed packages that are not installed."""
    needed, missing = closure()
    kept, dropped = [], []
    for name, version in sorted(frozen(), key=lambda p: canonicalize_name(p[0])):
        (kept if canonicalize_name(name) in needed else dropped).append(f"{name}=={version}")
    return HEADER + "".join(f"{line}\n" for line in kept), dropped, missing


def main() -> int:
    """Write (or with --check, verify) the constraints file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="exit 1 when the file differs")
    args = parser.parse_args()
    text, dropped, missing = render()
    if missing:
        print(f"not installed, so not pinned: {', '.join(missing)}", file=sys.stderr)
    if dropped:
        print(f"installed but not needed by {PROJECT}[{','.join(EXTRAS)}], left out: {', '.join(dropped)}",
              file=sys.stderr)
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        if current != text:
            print(f"{args.out} is out of date; run `make constraints`.", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date ({text.count(chr(10)) - HEADER.count(chr(10))} packages).")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=args.out.parent, delete=False, encoding="utf-8") as handle:
        handle.write(text)
    os.replace(handle.name, args.out)
    print(f"wrote {args.out} ({text.count(chr(10)) - HEADER.count(chr(10))} packages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
