"""A full disk on the SQLite store says so and names the file (issue 16 item 9).

The fault is real SQLite behaviour: ``PRAGMA max_page_count`` caps the database at its
current size, so the next write that needs a page fails with SQLITE_FULL ("database or
disk is full") exactly as a full disk does, and SQLite rolls the transaction back itself.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from rocketjob.errors import StoreError
from rocketjob.store import JobQuery, open_store
from rocketjob.store.sqlite.store import SQLiteStore
from tests.store.helpers import CLASS, job_doc


def fill(store: SQLiteStore) -> None:
    """Cap the database at the pages it has now (the disk is full from here on)."""
    pages = store._db.conn.execute("PRAGMA page_count").fetchone()[0]
    store._db.conn.execute(f"PRAGMA max_page_count = {pages}")


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    opened = open_store(f"sqlite:///{tmp_path / 'full.db'}")
    assert isinstance(opened, SQLiteStore)
    return opened


def count(store: SQLiteStore) -> int:
    return len(store.find_jobs(JobQuery(limit=None)))


def test_bulk_enqueue_on_a_full_disk_says_so_and_stores_nothing(store: SQLiteStore) -> None:
    store.insert_jobs([job_doc() for _ in range(10)])
    fill(store)
    with pytest.raises(StoreError) as info:
        store.insert_jobs([job_doc(arguments={"args": ["x" * 500], "kwargs": {}})
                           for _ in range(500)])  # fmt: skip
    message = str(info.value)
    assert "database or disk is full" in message and "full.db" in message
    assert "no transaction is active" not in message
    assert count(store) == 10
    store.close()


def test_single_enqueue_on_a_full_disk_says_so(store: SQLiteStore) -> None:
    store.insert_jobs([job_doc()])
    fill(store)
    with pytest.raises(StoreError, match=r"database or disk is full") as info:
        store.insert_jobs([job_doc(arguments={"args": ["y" * 200_000], "kwargs": {}})])
    assert "full.db" in str(info.value)
    assert count(store) == 1
    store.close()


def test_releasing_a_dead_workers_jobs_on_a_full_disk_says_so(store: SQLiteStore) -> None:
    store.insert_jobs([job_doc(arguments={"args": ["z" * 300], "kwargs": {}})
                       for _ in range(3000)])  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    claimed = store.claim_jobs([f"host:1:{i}" for i in range(3000)], [CLASS], now)
    assert len(claimed) == 3000
    fill(store)
    with pytest.raises(StoreError, match=r"database or disk is full") as info:
        store.requeue_jobs("host:1")
    assert "full.db" in str(info.value)
    running = store.find_jobs(JobQuery(states=["running"], limit=None))
    assert len(running) == 3000, "nothing half-released"
    store.close()
