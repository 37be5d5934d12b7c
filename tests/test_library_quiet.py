"""The library never prints: it returns data and hands notices to a listener; only the CLI prints."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest

from evalkit import notices
from evalkit.notices import Notice, notify, set_listener

PACKAGE = Path(__file__).resolve().parents[1] / "evalkit"


def _may_print(path: Path) -> bool:
    """CLI modules (and `python -m evalkit`), the demo script and the suites' data builders."""
    rel = path.relative_to(PACKAGE)
    return (rel.name in ("cli.py", "__main__.py", "demo.py") or rel.name.startswith("cli_")
            or (rel.parts[0] == "suites" and rel.name == "build_data.py"))


def _printing(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            found.append(f"{node.lineno}: print()")
        is_sys = isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "sys"
        if is_sys and node.attr in ("stdout", "stderr"):
            found.append(f"{node.lineno}: sys.{node.attr}")
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("evalkit.cli"):
            found.append(f"{node.lineno}: imports {node.module}")
        if isinstance(node, ast.ImportFrom) and node.module == "rich.console":
            found.append(f"{node.lineno}: imports rich.console")
    return found


def test_no_module_outside_the_cli_prints():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if _may_print(path):
            continue
        found = _printing(ast.parse(path.read_text(encoding="utf-8")))
        if found:
            offenders[str(path.relative_to(PACKAGE))] = found
    assert offenders == {}


def test_the_checker_sees_print_stderr_and_cli_consoles():
    source = "import sys\nfrom evalkit.cli_support import err_console\nprint(1)\nsys.stderr.write('x')\n"
    expected = ["2: imports evalkit.cli_support", "3: print()", "4: sys.stderr"]
    assert sorted(_printing(ast.parse(source))) == expected


@pytest.fixture()
def no_listener(monkeypatch):
    monkeypatch.setattr(notices, "_listener", None)


def test_a_notice_goes_to_the_listener_or_else_becomes_a_warning(no_listener):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        notify("the cache was damaged", "warning")
    assert [str(w.message) for w in caught] == ["warning: the cache was damaged"]
    heard: list[Notice] = []
    assert set_listener(heard.append) is None
    notify("training a: 10 rows")
    notify("finishing", "stopping")
    assert heard == [Notice("training a: 10 rows"), Notice("finishing", "stopping")]
    assert [str(n) for n in heard] == ["training a: 10 rows", "stopping: finishing"]


def test_the_cli_prints_a_notice_on_stderr_as_one_plain_line(capsys):
    from evalkit.cli_support import print_notice

    print_notice(Notice("2 of 4 sample(s) of 's' do not fit [the context]", "warning"))
    out, err = capsys.readouterr()
    assert out == "" and err == "warning: 2 of 4 sample(s) of 's' do not fit [the context]\n"
