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
from rocketjob import JobNotFound, connection
from rocketjob.store import open_store, postgres_schema
from rocketjob.store.postgres import PostgresStore

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
    while time.time() < start_at:
        time.sleep(0.001)
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
