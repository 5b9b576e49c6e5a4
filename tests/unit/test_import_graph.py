"""The package's modules import one another without cycles.

Read from the source with ``ast``, not from ``sys.modules``: every import counts, the ones inside
functions too (a cycle there is still a cycle, only a later one), except those under
``if TYPE_CHECKING:``, which never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

import incident_evals

PACKAGE = "incident_evals"
SOURCE = Path(incident_evals.__file__).resolve().parent

Graph = dict[str, set[str]]


def module_name(path: Path, root: Path = SOURCE, package: str = PACKAGE) -> str:
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(nodes: Iterable[ast.AST]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement in ``nodes``, but none in the body of ``if TYPE_CHECKING:``."""
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _imports(node.orelse)
        else:
            yield from _imports(ast.iter_child_nodes(node))


def _targets(
    statement: ast.Import | ast.ImportFrom, importer: str, is_package: bool, modules: set[str]
) -> Iterator[str]:
    """The project modules one import statement loads."""
    if isinstance(statement, ast.Import):
        yield from (alias.name for alias in statement.names)
        return
    base = statement.module or ""
    if statement.level:
        # ``from . import x`` in a package's __init__ is relative to the package itself.
        anchor = importer.split(".")
        if not is_package:
            anchor = anchor[:-1]
        anchor = anchor[: len(anchor) - (statement.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    submodules = [f"{base}.{alias.name}" for alias in statement.names]
    # ``from incident_evals.variants import text`` imports the submodule; only a name that is
    # not one is taken from the package itself.
    if not all(name in modules for name in submodules):
        yield base
    yield from (name for name in submodules if name in modules)


def import_graph(root: Path = SOURCE, package: str = PACKAGE) -> Graph:
    """Each module of the package -> the modules of the package it imports.

    Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` first, so those count as
    imported too, except the packages that hold the importer: they are loaded before it. A
    module importing names from its own package does import it.
    """
    files = {module_name(path, root, package): path for path in sorted(root.rglob("*.py"))}
    modules = set(files)
    graph: Graph = {name: set() for name in files}
    for importer, path in files.items():
        is_package = path.name == "__init__.py"
        own = importer if is_package else importer.rpartition(".")[0]
        holders = {".".join(own.split(".")[: n + 1]) for n in range(len(own.split(".")))}
        tree = ast.parse(path.read_text("utf-8"), str(path))
        for statement in _imports(tree.body):
            for target in _targets(statement, importer, is_package, modules):
                if target in modules and target != importer:
                    graph[importer].add(target)
                parts = target.split(".")
                for n in range(1, len(parts)):
                    above = ".".join(parts[:n])
                    if above in modules and above != importer and above not in holders:
                        graph[importer].add(above)
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module, each sorted, in name order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:
        # Tarjan's algorithm, iteratively: the graph may be deeper than the recursion limit.
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return sorted(found)


def one_cycle(graph: Mapping[str, set[str]], component: list[str]) -> list[str]:
    """A shortest path of imports from the component's first module back to itself."""
    members = set(component)
    start = component[0]
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for successor in sorted(graph[node] & members):
                if successor == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if successor not in came_from:
                    came_from[successor] = node
                    following.append(successor)
        frontier = following
    raise AssertionError(f"{component} is not a cycle")


def describe(graph: Mapping[str, set[str]]) -> str:
    lines = []
    for component in cycles(graph):
        lines.append(" -> ".join(one_cycle(graph, component)))
        members = set(component)
        for node in component:
            for target in sorted(graph[node] & members):
                lines.append(f"    {node} imports {target}")
    return "\n".join(lines)


def test_the_package_has_no_import_cycles() -> None:
    graph = import_graph()
    assert len(graph) > 40, "the package's modules were not found"
    found = describe(graph)
    assert not found, f"import cycles:\n{found}"


# --- the graph itself ----------------------------------------------------------------------------


def graph_of(root: Path, files: Mapping[str, str]) -> Graph:
    """The import graph of a package ``pkg`` made of ``files`` under ``root``."""
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    return import_graph(root / "pkg", "pkg")


TYPE_CHECKING_FILES = {
    "__init__.py": "",
    "a.py": "def f():\n    from pkg import b\n",
    "b.py": (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pkg.a import f\n"
        "else:\n    import pkg.c\n"
    ),
    "c.py": "import typing\nif typing.TYPE_CHECKING:\n    import pkg.a\n",
}
RELATIVE_FILES = {
    "__init__.py": "",
    "top.py": "from pkg.sub import leaf\nfrom pkg.sub.other import name\n",
    "sub/__init__.py": "from . import leaf\nfrom .other import name\n",
    "sub/leaf.py": "from .. import top\nfrom . import other\n",
    "sub/other.py": "name = 1\n",
}


@pytest.mark.parametrize(
    ("files", "graph"),
    [
        pytest.param(
            TYPE_CHECKING_FILES,
            {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": set()},
            id="imports-in-functions-count-type-checking-ones-do-not",
        ),
        pytest.param(
            RELATIVE_FILES,
            {
                "pkg": set(),
                "pkg.top": {"pkg.sub", "pkg.sub.leaf", "pkg.sub.other"},
                "pkg.sub": {"pkg.sub.leaf", "pkg.sub.other"},
                "pkg.sub.leaf": {"pkg.top", "pkg.sub.other"},
                "pkg.sub.other": set(),
            },
            id="relative-imports-submodules-and-their-packages-resolve",
        ),
    ],
)
def test_the_graph_of_a_package(
    tmp_path: Path, files: Mapping[str, str], graph: dict[str, set[str]]
) -> None:
    assert graph_of(tmp_path, files) == graph


def test_every_cycle_is_named_with_its_imports(tmp_path: Path) -> None:
    graph = graph_of(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from pkg import b\n",
            "b.py": "def later():\n    import pkg.c\n",
            "c.py": "from pkg.a import thing\n",
            "d.py": "import pkg.e\n",
            "e.py": "from pkg import d\n",
            "f.py": "import pkg.a\n",
            # A package and its module that takes a name from it.
            "g/__init__.py": "def later():\n    from pkg.g.h import name\n",
            "g/h.py": "from pkg.g import later\nname = 1\n",
        },
    )
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"], ["pkg.d", "pkg.e"], ["pkg.g", "pkg.g.h"]]
    assert describe(graph).splitlines() == [
        "pkg.a -> pkg.b -> pkg.c -> pkg.a",
        "    pkg.a imports pkg.b",
        "    pkg.b imports pkg.c",
        "    pkg.c imports pkg.a",
        "pkg.d -> pkg.e -> pkg.d",
        "    pkg.d imports pkg.e",
        "    pkg.e imports pkg.d",
        "pkg.g -> pkg.g.h -> pkg.g",
        "    pkg.g imports pkg.g.h",
        "    pkg.g.h imports pkg.g",
    ]
