"""No import cycle anywhere in the package, counting every import statement.

The graph is read from the source, not from what Python happened to import: imports inside
functions and under ``TYPE_CHECKING`` count too, so moving an import into a function cannot
hide a cycle. Relative imports are resolved the way Python resolves them, and ``from . import
x`` counts as an import of the submodule ``x`` when there is one.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT, SUBPACKAGES


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name (the repository root is the empty package "") -> file, for every module."""
    found = {"": root / "__init__.py"}
    for sub in SUBPACKAGES:
        for path in sorted((root / sub).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package modules ``name`` imports, anywhere in its file.

    ``from pkg import x`` imports the module ``pkg.x`` when there is one, else a name that
    ``pkg/__init__`` defines. Importing ``a.b.c`` runs ``a`` and ``a.b`` first, except the
    packages ``name`` itself lives in: they are initialised before it runs, whatever it imports.
    """
    package = _package_of(name, path)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".") if package else []
            if node.level > 1:
                base = base[: len(base) - (node.level - 1)]
            target = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                submodule = f"{target}.{alias.name}".strip(".")
                found.add(submodule if submodule in known else target)
    ancestors = set(_with_parents(package)) if package else set()
    edges = set(found)
    for target in found:
        edges.update(p for p in _with_parents(target)[:-1] if p not in ancestors)
    edges.discard(name)
    return {e for e in edges if e in known}


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    known = modules(root)
    return {name: imports(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:  # iterative: no recursion limit on a deep graph
        nonlocal counter
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _root_name(name: str) -> str:
    return name or "(root __init__)"


def test_the_package_has_no_import_cycle() -> None:
    found = cycles(graph())
    assert not found, "import cycles (each group imports itself through the others):\n" + "\n".join(
        "  " + " <-> ".join(_root_name(m) for m in group) for group in found
    )


def test_the_reader_sees_imports_inside_functions_and_under_type_checking(tmp_path: Path) -> None:
    # a two-module package whose only link back is an import inside a function and one under
    # TYPE_CHECKING: both must close the cycle
    (tmp_path / "__init__.py").write_text("")
    pkg = tmp_path / "launchpad"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import thing\n")
    (pkg / "b.py").write_text("def thing():\n    from . import a\n    return a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..launchpad.d import x\n")
    (pkg / "d.py").write_text("from .c import y\n")
    for sub in ("server_routes", "nodes"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "__init__.py").write_text("")
    assert cycles(graph(tmp_path)) == [["launchpad.c", "launchpad.d"], ["launchpad.a", "launchpad.b"]] or cycles(
        graph(tmp_path)
    ) == [["launchpad.a", "launchpad.b"], ["launchpad.c", "launchpad.d"]]
