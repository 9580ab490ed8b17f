"""The store packages' layout: one package per engine whose modules import each other
one way only (no cycle, counting imports inside functions and under TYPE_CHECKING), and a
Store Protocol that every engine class satisfies without getattr probing."""

from __future__ import annotations

import ast
from pathlib import Path

from rocketjob.store.base import Store

STORE_DIR = Path(__file__).resolve().parents[2] / "rocketjob" / "store"


def _module_name(path: Path) -> str:
    parts = path.relative_to(STORE_DIR.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The rocketjob.store modules ``path`` imports, wherever the import statement is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
    return {name for name in found if name in modules}


def _graph() -> dict[str, set[str]]:
    paths = sorted(STORE_DIR.rglob("*.py"))
    modules = {_module_name(path) for path in paths}
    return {_module_name(path): _imports(path, modules) for path in paths}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (a list of modules, first == last), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_in_the_store_packages() -> None:
    graph = _graph()
    assert {"rocketjob.store.sqlite.store", "rocketjob.store.postgres.store",
            "rocketjob.store.mongodb.store"} <= set(graph)  # fmt: skip
    assert "rocketjob.store.sqlite.claim" in graph["rocketjob.store.sqlite.store"]
    assert "rocketjob.store.sqlite" in graph["rocketjob.store"]  # inside open_store
    assert _cycle(graph) is None


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_every_engine_class_has_the_whole_contract() -> None:
    from rocketjob.store.mongodb import MongoStore
    from rocketjob.store.postgres import PostgresStore
    from rocketjob.store.sqlite import SQLiteStore

    members = [name for name in dir(Store) if not name.startswith("_")]
    assert "finish_and_claim" in members
    for cls in (SQLiteStore, PostgresStore, MongoStore):
        missing = [name for name in members if name != "url" and not hasattr(cls, name)]
        assert missing == [], f"{cls.__name__} lacks {missing}"
        assert cls.concurrent_writers >= 1
