"""The PostgreSQL store's async side (psycopg's AsyncConnection) and its one-statement claim
of both kinds: one connection per event loop, closed with the loop; concurrent enqueues of
a loop sharing statements; only a duplicate's caller failing; a killed connection
replaced; threads and event-loop slots claimed in one statement."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

import rocketjob
from rocketjob import DuplicateJob, StoreUnavailable, connection, current_store
from rocketjob.store.base import ClaimFor

from .conftest import POSTGRES_URL, StoreEnv, make_env, require_service
from .helpers import CLASS, job_doc


@pytest.fixture
def pg_env(tmp_path: Any) -> Iterator[StoreEnv]:
    """A fresh PostgreSQL schema."""
    require_service("postgres")
    env, name = make_env("postgres", tmp_path)
    try:
        yield env
    finally:
        env.close_all()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def connected(pg_env: StoreEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[StoreEnv]:
    """rocketjob connected to the fresh schema for this test only."""
    for name in ("_url", "_store", "_store_pid"):
        monkeypatch.setattr(connection, name, None)
    rocketjob.connect(pg_env.url)
    try:
        yield pg_env
    finally:
        rocketjob.disconnect()


class Report(rocketjob.Job):
    """A job class to enqueue (never performed here)."""

    def perform(self, name: str) -> None:
        """Nothing: these tests only enqueue."""


class Nightly(rocketjob.Job):
    """A singleton: at most one queued, running or paused."""

    singleton = True

    def perform(self) -> None:
        """Nothing."""


@pytest.fixture
def spied(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Every AsyncConnection the store opens, and every statement they run."""
    seen: dict[str, list[Any]] = {"connections": [], "statements": []}
    connect, execute = psycopg.AsyncConnection.connect, psycopg.AsyncConnection.execute

    async def spy_connect(cls: Any, *args: Any, **kwargs: Any) -> Any:
        conn = await connect(*args, **kwargs)
        seen["connections"].append(conn)
        return conn

    async def spy_execute(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        seen["statements"].append(str(query))
        return await execute(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.AsyncConnection, "connect", classmethod(spy_connect))
    monkeypatch.setattr(psycopg.AsyncConnection, "execute", spy_execute)
    return seen


def test_one_connection_per_loop_closed_when_the_loop_ends(
    connected: StoreEnv, spied: dict[str, list[Any]]
) -> None:
    async def scenario() -> list[str]:
        one = await Report.aperform_later("a")
        many = await Report.aperform_all_later([("b",), ("c",)])
        found = await Report.afind(one.id or "")
        await found.areload()
        return [job.id or "" for job in (one, *many)]

    first = asyncio.run(scenario())
    (conn,) = spied["connections"]  # every call of the loop on one connection
    assert conn.closed  # asyncio.run's shutdown closed it
    second = asyncio.run(scenario())
    assert len(spied["connections"]) == 2 and spied["connections"][1].closed
    assert {job.id for job in Report.where(limit=None)} == set(first + second)


def test_concurrent_enqueues_of_a_loop_share_statements(
    connected: StoreEnv, spied: dict[str, list[Any]]
) -> None:
    async def scenario() -> list[Report]:
        return await asyncio.gather(*(Report.aperform_later(f"r{i}") for i in range(200)))

    jobs = asyncio.run(scenario())
    inserts = [s for s in spied["statements"] if "INSERT INTO" in s]
    assert len(inserts) < 20, len(inserts)  # 200 callers, a few shared statements
    assert sorted(j.id or "" for j in jobs) == sorted(j.id or "" for j in Report.where(limit=None))


def test_only_the_duplicates_caller_fails_in_a_shared_statement(
    connected: StoreEnv, spied: dict[str, list[Any]]
) -> None:
    async def scenario() -> list[Any]:
        calls = [Report.aperform_later("a"), Nightly.aperform_later(),
                 Nightly.aperform_later(), Report.aperform_later("b")]  # fmt: skip
        return await asyncio.gather(*calls, return_exceptions=True)

    a, night1, night2, b = asyncio.run(scenario())
    assert isinstance(a, Report) and isinstance(b, Report)
    assert [isinstance(x, DuplicateJob) for x in (night1, night2)].count(True) == 1
    assert "Nightly is a singleton job class" in str(next(
        x for x in (night1, night2) if isinstance(x, DuplicateJob)))  # fmt: skip
    assert Report.counts_by_state() == {"queued": 2} and Nightly.counts_by_state() == {"queued": 1}


def test_a_killed_connection_fails_one_call_then_is_replaced(
    connected: StoreEnv, spied: dict[str, list[Any]]
) -> None:
    async def scenario() -> tuple[BaseException | None, Report]:
        await Report.aperform_later("before")
        pid = spied["connections"][0].info.backend_pid
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        error: BaseException | None = None
        try:
            await Report.aperform_later("lost")
        except StoreUnavailable as exc:
            error = exc
        return error, await Report.aperform_later("after")

    error, after = asyncio.run(scenario())
    assert isinstance(error, StoreUnavailable) and "unavailable" in str(error)
    assert len(spied["connections"]) == 2
    assert Report.find(after.id or "").arguments["args"] == ["after"]


def test_the_loop_connection_can_be_closed_by_the_application(
    connected: StoreEnv, spied: dict[str, list[Any]]
) -> None:
    async def scenario() -> None:
        await Report.aperform_later("x")
        jobs = current_store().async_jobs
        assert jobs is not None
        await jobs.aclose()  # a shutdown hook (FastAPI's lifespan)
        assert spied["connections"][0].closed
        await Report.aperform_later("y")  # a new connection

    asyncio.run(scenario())
    assert len(spied["connections"]) == 2 and all(c.closed for c in spied["connections"])


def test_claim_kinds_is_one_statement(pg_env: StoreEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    store = pg_env.open()
    store.insert_jobs([job_doc(), job_doc(job_class="app.Async"), job_doc()])
    statements: list[str] = []
    execute = psycopg.Connection.execute

    def spy(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        statements.append(str(query))
        return execute(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "execute", spy)
    kinds = [ClaimFor(["h:1:t1", "h:1:t2", "h:1:t3"], [CLASS]),
             ClaimFor(["h:1:a1", "h:1:a2"], ["app.Async"])]  # fmt: skip
    threads, slots = store.claim_kinds(kinds, dt.datetime.now(dt.UTC))
    # "" is the pool's connection check; SETs configure a connection the pool opens meanwhile
    statements = [s for s in statements if s and not s.startswith("SET ")]
    assert len(statements) == 1 and "rocketjob_claimable" in statements[0]
    assert [d["worker_name"] for d in threads] == ["h:1:t1", "h:1:t2"]
    assert [d["worker_name"] for d in slots] == ["h:1:a1"]
