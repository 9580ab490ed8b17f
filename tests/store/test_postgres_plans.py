"""PostgreSQL plans without planner statistics: the claim and the Mission Control
listings walk their index in order whatever the statistics say.

A burst of jobs into a table that was never analyzed, or analyzed while empty, leaves
the planner guessing that almost no row matches; the plain claim then read and sorted
the whole queue on every claim (``docs/performance.md``, stale statistics). Each test
loads a fresh schema with the store, runs the store's own statements (recorded as the
store sends them) with ``auto_explain`` on, and checks the plans PostgreSQL chose,
including the one inside the ``rocketjob_claimable`` function.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from rocketjob.store import JobQuery
from rocketjob.store.base import ClaimLimit, Finish
from rocketjob.store.postgres import PostgresStore

from .conftest import POSTGRES_URL, make_env, require_service
from .helpers import CLASS, job_doc

QUEUED = 10_000
FINISHED = 3_000


def _load(store: PostgresStore) -> None:
    """10,000 queued jobs and 3,000 finished ones, in chunks as a bulk enqueue would."""
    now = dt.datetime.now(dt.UTC)
    docs = [job_doc() for _ in range(QUEUED)]
    for i in range(FINISHED):
        state = ("failed", "completed", "running")[i % 3]
        extra: dict[str, Any] = {"state": state, "destroy_on_complete": False}
        if state == "running":
            extra |= {"server_name": "host:1", "worker_name": f"host:1:{i}", "started_at": now}
        else:
            extra |= {"completed_at": now, "job_class": f"{CLASS}{i % 2}"}
        docs.append(job_doc(**extra))
    for start in range(0, len(docs), 1000):
        store.insert_jobs(docs[start : start + 1000])


@pytest.fixture(params=["never analyzed", "analyzed while empty"])
def loaded(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[PostgresStore]:
    """A fresh schema whose jobs table has no column statistics, loaded with jobs."""
    require_service("postgres")
    env, name = make_env("postgres", tmp_path)
    store = PostgresStore(env.url)
    table = sql.SQL("{}.rocketjob_jobs").format(sql.Identifier(name))
    try:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            # autovacuum must not analyze the table during the test (its premise)
            conn.execute(sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = false)").format(table))
            if request.param == "analyzed while empty":
                conn.execute(sql.SQL("ANALYZE {}").format(table))
        _load(store)
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            stats = conn.execute(
                "SELECT count(*) FROM pg_stats WHERE schemaname = %s", (name,)
            ).fetchone()
        assert stats == (0,), "the table has column statistics: the test would prove nothing"
        yield store
    finally:
        store.close()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def _recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any]]:
    """Record every statement a psycopg connection executes (then run it as usual)."""
    calls: list[tuple[Any, Any]] = []
    execute = psycopg.Connection.execute

    def spy(self: psycopg.Connection[Any], query: Any, params: Any = None, **kw: Any) -> Any:
        text = query.as_string(self) if isinstance(query, sql.Composable) else str(query)
        calls.append((text, params))
        return execute(self, query, params, **kw)

    monkeypatch.setattr(psycopg.Connection, "execute", spy)
    return calls


def _plans(calls: list[tuple[Any, Any]], marker: str) -> list[str]:
    """Every plan (the statement's and those of statements nested in functions) that
    PostgreSQL uses to run the one recorded statement containing ``marker``, replayed
    after the ``SET LOCAL`` the store sent just before it (if any), in a transaction
    that is rolled back. Each plan starts with its ``Query Text``."""
    found = [i for i, call in enumerate(calls) if marker in str(call[0])]
    assert len(found) == 1, f"expected one statement with {marker!r}, got {len(found)}"
    replay = [calls[found[0]]]
    if found[0] and str(calls[found[0] - 1][0]).startswith("SET LOCAL"):
        replay.insert(0, calls[found[0] - 1])
    notices: list[str] = []
    with psycopg.connect(POSTGRES_URL) as conn:
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        try:
            conn.execute("LOAD 'auto_explain'")
        except psycopg.errors.InsufficientPrivilege:
            pytest.skip("LOAD 'auto_explain' needs a superuser connection")
        for setting in ("log_min_duration = 0", "log_nested_statements = on",
                        "log_level = notice"):  # fmt: skip
            conn.execute(f"SET LOCAL auto_explain.{setting}")
        for query, params in replay:
            conn.execute(query, params)
        conn.rollback()
    plans = [notice[notice.index("Query Text") :] for notice in notices]
    assert plans, "auto_explain reported no plan"
    return [plan for plan in plans if not plan.startswith("Query Text: SET LOCAL")]


def test_claim_walks_the_claim_index_without_statistics(
    loaded: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _recorded(monkeypatch)
    workers = [f"host:2:{i}" for i in range(10)]
    now = dt.datetime.now(dt.UTC)
    claimed = loaded.claim_jobs(workers, [CLASS], now)
    assert len(claimed) == 10
    done, more = loaded.finish_and_claim(
        [Finish(doc["id"], doc["worker_name"], destroy=True) for doc in claimed],
        workers, [CLASS], now,
    )  # fmt: skip
    assert sorted(done) == sorted(doc["id"] for doc in claimed) and len(more) == 10
    monkeypatch.undo()
    for marker in ("WITH picked", "WITH done"):
        plans = _plans(calls, marker)
        pick = [plan for plan in plans if "SKIP LOCKED" in plan]
        assert len(pick) == 1, plans
        assert "Index Scan using rocketjob_jobs_claim " in pick[0], pick[0]
        assert "Sort" not in pick[0] and "Bitmap" not in pick[0], pick[0]
        # the claim's UPDATE finds the picked rows by primary key; the DELETE of the done
        # jobs reads the running ones (at most one per worker thread) by an index too
        claim = [plan for plan in plans if marker in plan.splitlines()[0]]
        assert len(claim) == 1, plans
        assert "Index Scan using rocketjob_jobs_pkey on rocketjob_jobs j" in claim[0], claim
        assert "Seq Scan" not in claim[0], claim[0]


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (JobQuery(states=["failed"], descending=True, limit=101), "rocketjob_jobs_state"),
        (JobQuery(states=["completed"], limit=101), "rocketjob_jobs_state"),
        (
            JobQuery(states=["failed"], job_class=f"{CLASS}1", descending=True, limit=101),
            "rocketjob_jobs_class_state",
        ),
        (JobQuery(descending=True, limit=101), "rocketjob_jobs_pkey"),
    ],
)
def test_listings_walk_their_index_in_order_without_statistics(
    loaded: PostgresStore, monkeypatch: pytest.MonkeyPatch, query: JobQuery, index: str
) -> None:
    calls = _recorded(monkeypatch)
    docs = loaded.find_jobs(query)
    assert len(docs) == 101
    ids = [doc["id"] for doc in docs]
    assert ids == sorted(ids, reverse=query.descending)
    monkeypatch.undo()
    plans = "\n".join(_plans(calls, "ORDER BY id"))
    assert f"Scan Backward using {index} " in plans or (
        not query.descending and f"Scan using {index} " in plans
    ), plans
    assert "Sort" not in plans and "Seq Scan" not in plans, plans


def test_queued_and_server_listings_use_an_index_without_statistics(
    loaded: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _recorded(monkeypatch)
    queued, _ = loaded.scan_jobs(JobQuery(states=["queued"], descending=True, limit=50),
                                 scheduled=False)  # fmt: skip
    running = loaded.find_jobs(JobQuery(states=["running"], server_name="host:1", limit=100))
    assert len(queued) == 50 and len(running) == 100
    monkeypatch.undo()
    for marker in ("OFFSET", "LIMIT 51", '"server_name" ='):
        plans = "\n".join(_plans(calls, marker))
        assert "Seq Scan" not in plans, plans
        assert "Index" in plans, plans


def test_throttled_claim_walks_the_claim_index_without_statistics(
    loaded: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _recorded(monkeypatch)
    workers = [f"host:3:{i}" for i in range(10)]
    running = FINISHED // 3  # _load's running jobs are of CLASS
    limit = ClaimLimit("imports", frozenset({CLASS}), max_running=running + 5)
    claimed = loaded.claim_jobs(workers, [CLASS], dt.datetime.now(dt.UTC), [limit])
    assert len(claimed) == 5  # the limit, not the idle threads
    monkeypatch.undo()
    plans = _plans(calls, "NOT (id = ANY")
    assert len(plans) == 1, plans
    assert "Index Scan using rocketjob_jobs_claim " in plans[0], plans[0]
    assert "Sort" not in plans[0] and "Bitmap" not in plans[0], plans[0]


@pytest.fixture
def analyzed(tmp_path: Any) -> Iterator[PostgresStore]:
    """A fresh schema loaded with jobs, then analyzed: fresh planner statistics."""
    require_service("postgres")
    env, name = make_env("postgres", tmp_path)
    store = PostgresStore(env.url)
    try:
        _load(store)
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            table = sql.SQL("{}.rocketjob_jobs").format(sql.Identifier(name))
            conn.execute(sql.SQL("ANALYZE {}").format(table))
        yield store
    finally:
        store.close()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def test_claim_pick_is_planned_once_per_connection_with_statistics(
    analyzed: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With statistics, a custom plan for ``LIMIT 10`` looks far cheaper than the generic
    plan (which expects an unknown LIMIT to take 10 % of the queue), so the plan cache
    re-planned the pick on every claim: 10 to 17 % of the drain (docs/performance.md).
    The generic plan is the one whose Limit expects more rows than the claim asked for;
    it is also the claim index walk."""
    calls = _recorded(monkeypatch)
    workers = [f"host:4:{i}" for i in range(10)]
    assert len(analyzed.claim_jobs(workers, [CLASS], dt.datetime.now(dt.UTC))) == 10
    monkeypatch.undo()
    pick = [plan for plan in _plans(calls, "WITH picked") if "SKIP LOCKED" in plan]
    assert len(pick) == 1, pick
    limit = next(line for line in pick[0].splitlines() if "Limit" in line)
    rows = int(limit.split("rows=")[1].split()[0])
    assert rows > len(workers), pick[0]  # a custom plan for n = 10 says rows=10
    assert "Index Scan using rocketjob_jobs_claim " in pick[0], pick[0]
    assert "Sort" not in pick[0] and "Bitmap" not in pick[0], pick[0]
