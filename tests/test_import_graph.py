"""The import graph of ``rocketjob`` and ``appenders`` has no cycle (issue 15).

Every import counts: at module level, inside functions, and under ``TYPE_CHECKING``.
``from pkg import name`` is an edge to the module ``pkg.name`` when that is a module,
otherwise to ``pkg``; a relative import is resolved against the importing module.
Importing a submodule also runs its package's ``__init__``, but that edge is left out
(as import-linter and pydeps do): every module would otherwise depend on
``rocketjob/__init__.py``, which re-exports the public API.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rocketjob", "appenders")


def module_files() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of PACKAGES."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    keep = len(base) - node.level + (1 if is_package else 0)
    prefix = base[:keep]
    return ".".join([*prefix, node.module] if node.module else prefix)


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``module`` imports anywhere in its source."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                targets.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.add(full if full in known else base)
    return {name for name in targets if name in known and name != module}


def import_graph() -> dict[str, set[str]]:
    """module -> the modules it imports, over PACKAGES."""
    files = module_files()
    known = set(files)
    return {module: imports_of(module, path, known) for module, path in files.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan), each as a
    sorted list; a cycle exists exactly when one is returned."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

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
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def test_the_graph_is_read() -> None:
    graph = import_graph()
    assert "rocketjob.job" in graph and "appenders.file" in graph
    assert "rocketjob.state" in graph["rocketjob.job"]


def test_a_cycle_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c"]]


#: The job model: no cycle through these is ever accepted.
JOB_MODEL = frozenset({
    "rocketjob.job", "rocketjob.lifecycle", "rocketjob.enqueue", "rocketjob.hooks",
    "rocketjob.state", "rocketjob.behaviours", "rocketjob.bulk", "rocketjob.executor",
    "rocketjob.worker",
})  # fmt: skip


def test_the_job_model_has_no_import_cycle() -> None:
    graph = import_graph()
    cycles = [c for c in find_cycles(graph) if JOB_MODEL & set(c) or any("plugins" in m for m in c)]
    assert cycles == [], "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_import_cycle_anywhere() -> None:
    cycles = find_cycles(import_graph())
    assert cycles == [], "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)
