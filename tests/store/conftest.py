"""Fixtures of the store contract suite: one fresh, empty, isolated store per test.

``store_env`` is parametrized over every store: SQLite (a new file in tmp_path),
PostgreSQL (a new schema, ``?schema=rj_...``) and MongoDB (a new database). The servers
come from ``ROCKETJOB_TEST_POSTGRES_URL`` and ``ROCKETJOB_TEST_MONGODB_URL``; when one is
unreachable its tests are skipped, or failed when ``CI=true``.
"""

from __future__ import annotations

import multiprocessing
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import pytest

from rocketjob.errors import StoreUnavailable
from rocketjob.store import Store, open_store

POSTGRES_URL = os.environ.get(
    "ROCKETJOB_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test"
)
MONGODB_URL = os.environ.get("ROCKETJOB_TEST_MONGODB_URL", "mongodb://127.0.0.1:27018/")
IN_CI = os.environ.get("CI", "").lower() == "true"

_available: dict[str, str | None] = {}
_TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def spawn_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of fresh (spawned, not forked) processes that can import this package's
    helpers by name (``store.helpers``)."""
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=exec,
        initargs=(f"import sys; sys.path.insert(0, {_TESTS_DIR!r})",),
    )


def with_query(url: str, extra: str) -> str:
    """``url`` with ``extra`` (``key=value``) appended to its query string."""
    parts = urlsplit(url)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def with_database(url: str, name: str) -> str:
    """A MongoDB ``url`` naming database ``name``."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def require_service(kind: str) -> None:
    """Skip (or, in CI, fail) unless the server behind ``kind`` answers; probed once."""
    if kind == "sqlite":
        return
    if kind not in _available:
        url = POSTGRES_URL if kind == "postgres" else MONGODB_URL
        try:
            if kind == "postgres":
                import psycopg

                psycopg.connect(url, connect_timeout=3).close()
            else:
                import pymongo

                client = pymongo.MongoClient(url, serverSelectionTimeoutMS=3000)
                try:
                    client.admin.command("ping")
                finally:
                    client.close()
            _available[kind] = None
        except Exception as exc:
            _available[kind] = f"{kind} test server at {url} is not reachable: {exc}"
    reason = _available[kind]
    if reason is not None:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: service-backed tests must run)")
        pytest.skip(reason)


@dataclass
class StoreEnv:
    """One isolated store: its kind, its URL, and the stores opened on it."""

    kind: str
    url: str
    opened: list[Store] = field(default_factory=list)

    def open(self) -> Store:
        """Another connection (another client, pool or file handle) to the same store."""
        store = open_store(self.url)
        self.opened.append(store)
        return store

    def close_all(self) -> None:
        for store in self.opened:
            store.close()


def _drop(kind: str, name: str) -> None:
    if kind == "postgres":
        import psycopg
        from psycopg import sql

        with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
    elif kind == "mongodb":
        import pymongo

        client = pymongo.MongoClient(MONGODB_URL, serverSelectionTimeoutMS=5000)
        try:
            client.drop_database(name)
        finally:
            client.close()


def make_env(kind: str, tmp_path: os.PathLike[str]) -> tuple[StoreEnv, str]:
    """A fresh StoreEnv of ``kind`` and the name of what to drop afterwards."""
    name = f"rj_{uuid.uuid4().hex[:16]}"
    if kind == "sqlite":
        return StoreEnv(kind, f"sqlite:///{os.fspath(tmp_path)}/{name}.db"), name
    if kind == "postgres":
        return StoreEnv(kind, with_query(POSTGRES_URL, f"schema={name}")), name
    return StoreEnv(kind, with_database(MONGODB_URL, name)), name


@pytest.fixture(params=["sqlite", "postgres", "mongodb"])
def store_env(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[StoreEnv]:
    """A fresh, empty store of each kind (skipped when its server is absent)."""
    kind = request.param
    require_service(kind)
    env, name = make_env(kind, tmp_path)
    try:
        yield env
    finally:
        env.close_all()
        _drop(kind, name)


@pytest.fixture
def store(store_env: StoreEnv) -> Store:
    """The store under test."""
    try:
        return store_env.open()
    except StoreUnavailable as exc:
        if IN_CI:
            pytest.fail(str(exc))
        pytest.skip(str(exc))
