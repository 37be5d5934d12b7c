"""The import graph of `evalkit` has no cycles among module-level imports.

The graph is built from the source with `ast`, without importing anything. An import at the top
level of a module (also inside a module-level `try`/`if`/class body) is an eager edge; an import
inside a function body is a lazy edge and is listed apart; an import under `if TYPE_CHECKING:`
is type-only and is ignored. Importing `a.b.c` also runs `a` and `a.b`, so the edge goes to the
target and to each of its packages, except the importer's own packages (already initialising).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "evalkit"


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module of `package` below `root`, by dotted name (`pkg/__init__.py` is `pkg`)."""
    names: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module) -> tuple[list[ast.stmt], list[ast.stmt]]:
    """(eager, lazy) import statements of a module."""
    eager: list[ast.stmt] = []
    lazy: list[ast.stmt] = []

    def walk(nodes: list[ast.stmt], in_function: bool) -> None:
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                (lazy if in_function else eager).append(node)
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                walk(node.orelse, in_function)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                walk(node.body, True)
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    children = getattr(node, field, None)
                    if isinstance(children, list):
                        walk([c for c in children if isinstance(c, ast.AST)], in_function)

    walk(tree.body, False)
    return eager, lazy


def _targets(node: ast.stmt, importer: str, is_package: bool, modules: dict[str, Path]) -> set[str]:
    """The modules of the package that one import statement runs."""
    found: set[str] = set()
    if isinstance(node, ast.Import):
        found.update(alias.name for alias in node.names)
    else:
        assert isinstance(node, ast.ImportFrom)
        base = node.module or ""
        if node.level:
            anchor = importer.split(".") if is_package else importer.split(".")[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join(anchor + ([base] if base else []))
        found.add(base)
        found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules)
    ancestors = {".".join(importer.split(".")[:i]) for i in range(1, importer.count(".") + 2)}
    targets: set[str] = set()
    for name in found:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in modules and prefix not in ancestors:
                targets.add(prefix)
    targets.discard(importer)
    return targets


def import_graph(root: Path, package: str) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(eager, lazy) edges between the modules of `package`: importer → imported modules."""
    modules = module_names(root, package)
    eager: dict[str, set[str]] = {}
    lazy: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        now, later = _imports(tree)
        is_package = path.name == "__init__.py"
        eager[name] = set().union(*(_targets(n, name, is_package, modules) for n in now))
        lazy[name] = set().union(*(_targets(n, name, is_package, modules) for n in later)) - eager[name]
    return eager, lazy


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_no_cycles_among_module_level_imports():
    eager, _ = import_graph(ROOT, PACKAGE)
    assert len(eager) > 50, "the graph should cover the whole package"
    assert cycles(eager) == []


def test_lazy_imports_do_not_close_a_cycle_unlisted():
    """A function-level import that would close a cycle is either genuinely lazy (listed) or a smell."""
    eager, lazy = import_graph(ROOT, PACKAGE)
    combined = {name: eager[name] | lazy[name] for name in eager}
    closing = set()
    for component in cycles(combined):
        members = set(component)
        for name in component:
            closing.update((name, target) for target in lazy[name] & members)
    assert closing <= LAZY_ON_PURPOSE, sorted(closing - LAZY_ON_PURPOSE)


# Function-level imports inside a cycle of the combined graph, kept lazy for start-up time: the
# CLI and the top-level `evalkit` names must not load torch, transformers or the HF backend.
LAZY_ON_PURPOSE: set[tuple[str, str]] = set()


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_checker_finds_a_cycle_through_a_package_and_ignores_lazy_and_type_only(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg.sub import b\n",
            "pkg/sub/__init__.py": "from . import c\n",
            "pkg/sub/b.py": "x = 1\n",
            "pkg/sub/c.py": "import pkg.a\n",
            "pkg/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.e\n",
            "pkg/e.py": "def f():\n    import pkg.d\n",
        },
    )
    eager, lazy = import_graph(tmp_path, "pkg")
    assert eager["pkg.a"] == {"pkg.sub", "pkg.sub.b"}
    assert eager["pkg.sub"] == {"pkg.sub.c"}
    assert eager["pkg.d"] == set()
    assert lazy["pkg.e"] == {"pkg.d"}
    assert cycles(eager) == [["pkg.a", "pkg.sub", "pkg.sub.c"]]
