"""PostgreSQL-only behaviour: transactional enqueue, schema migration, options."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

import rocketjob
import rocketjob.store.postgres.schema as postgres_schema
import rocketjob.store.postgres.sql as postgres_sql
import rocketjob.store.postgres.web as postgres_web
from rocketjob import JobNotFound, connection
from rocketjob.store import JobQuery, open_store
from rocketjob.store.postgres import PostgresStore
from tests.support import wait_until

from .conftest import POSTGRES_URL, StoreEnv, make_env, require_service, spawn_pool, with_query
from .helpers import job_doc


class ImportJob(rocketjob.Job):
    """A job class to enqueue (never performed here)."""

    def perform(self, file_name: str) -> None:
        """Nothing: these tests only enqueue."""


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


def test_transactional_enqueue_rolled_back_leaves_no_job(connected: StoreEnv) -> None:
    with psycopg.connect(POSTGRES_URL) as conn:
        conn.execute("SELECT 1")  # the caller's transaction is open
        job = ImportJob.set(connection=conn).perform_later("a.csv")
        other = open_store(connected.url)
        try:
            assert other.get_job(job.id) is None, "visible before the caller committed"
        finally:
            other.close()
        conn.rollback()
    with pytest.raises(JobNotFound):
        ImportJob.find(job.id)


def test_transactional_enqueue_committed_exists(connected: StoreEnv) -> None:
    with psycopg.connect(POSTGRES_URL) as conn:  # nothing run yet: the insert opens it
        job = ImportJob.set(connection=conn, priority=5).perform_later("b.csv")
        jobs = ImportJob.set(connection=conn).perform_all_later([("c.csv",), ("d.csv",)])
        conn.commit()
    found = ImportJob.find(job.id)
    assert (found.state, found.priority, found.arguments["args"]) == ("queued", 5, ["b.csv"])
    assert all(ImportJob.find(j.id).queued for j in jobs)


def test_transactional_enqueue_in_autocommit_connection(connected: StoreEnv) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        job = ImportJob.set(connection=conn).perform_later("e.csv")
    assert ImportJob.find(job.id).queued


def test_notify_is_sent_only_when_the_caller_commits(connected: StoreEnv) -> None:
    waiter = connected.open()
    waiter.wait_for_jobs(0.05)  # listening from now on
    with psycopg.connect(POSTGRES_URL) as conn:
        ImportJob.set(connection=conn).perform_later("f.csv")
        started = time.monotonic()
        waiter.wait_for_jobs(0.3)
        assert time.monotonic() - started >= 0.25, "woken by an uncommitted enqueue"
        timer = threading.Timer(0.1, conn.commit)
        timer.start()
        started = time.monotonic()
        waiter.wait_for_jobs(10)
        woke = time.monotonic() - started
        timer.join()
    assert woke < 1.0


def test_pickup_latency_is_milliseconds(pg_env: StoreEnv) -> None:
    waiter, writer = pg_env.open(), pg_env.open()
    waiter.wait_for_jobs(0.05)
    latencies = []
    for _ in range(20):
        sent: list[float] = []

        def send(sent: list[float] = sent) -> None:
            sent.append(time.monotonic())
            writer.insert_jobs([job_doc()])

        timer = threading.Timer(0.02, send)
        timer.start()
        waiter.wait_for_jobs(5)
        latencies.append(time.monotonic() - sent[0] if sent else 5.0)
        timer.join()
    latencies.sort()
    assert latencies[len(latencies) // 2] < 0.010, f"p50 {latencies[len(latencies) // 2]:.4f}s"


def test_schema_migration_is_race_safe(tmp_path: Any) -> None:
    require_service("postgres")
    name = f"rj_{uuid.uuid4().hex[:16]}"
    url = with_query(POSTGRES_URL, f"schema={name}")
    try:
        with spawn_pool(4) as pool:
            start_at = time.time() + 3.0
            futures = [pool.submit(_open_and_count, url, start_at) for _ in range(4)]
            assert [f.result(timeout=60) for f in futures] == [{}] * 4
        with psycopg.connect(POSTGRES_URL) as conn:
            rows = conn.execute(
                sql.SQL("SELECT version FROM {}.rocketjob_schema_versions").format(
                    sql.Identifier(name)
                )
            ).fetchall()
        # each migration applied exactly once, however many processes raced
        assert rows == [(version,) for version in sorted(postgres_schema.MIGRATIONS)]
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def _open_and_count(url: str, start_at: float) -> dict[str, int]:
    wait_until(lambda: time.time() >= start_at, timeout=60, interval=0.001)  # common start
    store = open_store(url)
    try:
        return store.count_jobs()
    finally:
        store.close()


def test_url_options_and_password_hidden(pg_env: StoreEnv) -> None:
    store = pg_env.open()
    assert isinstance(store, PostgresStore)
    tuned = PostgresStore(
        with_query(pg_env.url, "pool_size=2&statement_timeout=1000&prepare=false")
    )
    try:
        tuned.insert_jobs([job_doc(run_at=dt.datetime.now(dt.UTC))])
        assert tuned.count_jobs() == {"queued": 1}
    finally:
        tuned.close()


def test_version_2_schema_migrates_to_partial_listing_indexes(
    pg_env: StoreEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 3: the listing indexes leave queued jobs out (an enqueue updates two
    indexes, not four); counts and listings stay the same, and a generic (prepared) plan
    of a listing by state can still use the state index."""
    with monkeypatch.context() as patch:
        patch.setattr(
            postgres_schema, "MIGRATIONS", {v: postgres_schema.MIGRATIONS[v] for v in (1, 2)}
        )
        patch.setattr(postgres_schema, "SCHEMA_VERSION", 2)
        later = ("attempts", "trace_context")  # added by migrations 5 and 6
        before_attempts = tuple(c for c in postgres_schema.JOB_COLUMNS if c not in later)
        patch.setattr(postgres_sql, "JOB_COLUMNS", before_attempts)  # the columns of v2
        old = pg_env.open()
        # This rocketjob writes crash_count (migration 5, ADD COLUMN IF NOT EXISTS): the
        # column is added ahead so the version-2 table can take its documents.
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL(
                    "ALTER TABLE {}.rocketjob_jobs ADD COLUMN crash_count integer "
                    "NOT NULL DEFAULT 0"
                ).format(sql.Identifier(pg_env.url.rsplit("schema=", 1)[1]))
            )
        docs = [job_doc(), job_doc(job_class="app.jobs.MailJob"), job_doc(state="failed")]
        old.insert_jobs(docs)
        old.close()
    store = pg_env.open()
    schema_name = pg_env.url.rsplit("schema=", 1)[1]
    with psycopg.connect(POSTGRES_URL) as conn:
        versions = conn.execute(
            sql.SQL("SELECT version FROM {}.rocketjob_schema_versions ORDER BY 1").format(
                sql.Identifier(schema_name)
            )
        ).fetchall()
        defs = dict(
            conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s",
                (schema_name,),
            ).fetchall()
        )
        assert versions == [(v,) for v in range(1, postgres_schema.SCHEMA_VERSION + 1)]
        for name in ("rocketjob_jobs_state", "rocketjob_jobs_class_state"):
            assert "WHERE (state <> 'queued'::text)" in defs[name]
        conn.execute("SET enable_seqscan = off")
        conn.execute("SET plan_cache_mode = force_generic_plan")
        where, params = postgres_web.job_filters(JobQuery(states=["failed"]))
        jobs = sql.SQL("{}.rocketjob_jobs").format(sql.Identifier(schema_name))
        text = sql.SQL("SELECT id FROM {} WHERE {} ORDER BY id").format(jobs, where)
        assert params == ["failed"]  # one state: plain equality (test_postgres_plans.py)
        conn.execute(
            sql.SQL("PREPARE listing(text) AS {}").format(
                sql.SQL(text.as_string(conn).replace("%s", "$1"))
            )
        )
        plan = conn.execute("EXPLAIN EXECUTE listing('failed')").fetchall()
        used = " ".join(row[0] for row in plan)
        assert "rocketjob_jobs_state" in used or "rocketjob_jobs_class_state" in used, used
    assert store.count_jobs() == {"queued": 2, "failed": 1}
    assert store.count_jobs("app.jobs.MailJob") == {"queued": 1}
    assert store.count_jobs_by_class() == {  # type: ignore[attr-defined]
        "app.jobs.ImportJob": {"queued": 1, "failed": 1},
        "app.jobs.MailJob": {"queued": 1},
    }
    listed = store.find_jobs(JobQuery(states=["failed"]))
    assert [doc["id"] for doc in listed] == [docs[2]["id"]]
    assert listed[0]["attempts"] is None  # migration 5 added the column to existing rows
    assert listed[0]["trace_context"] is None  # and migration 6 this one
    history = [{"number": 1, "at": "2026-01-02T03:04:05+00:00", "started_at": None,
                "worker_name": "h:1:t", "class_name": "KeyError", "message": "x"}]  # fmt: skip
    assert store.update_job(docs[2]["id"], {"attempts": history})["attempts"] == history  # type: ignore[index]
    assert [doc["id"] for doc in store.find_jobs(JobQuery(states=["queued"]))] == [
        docs[0]["id"],
        docs[1]["id"],
    ]
