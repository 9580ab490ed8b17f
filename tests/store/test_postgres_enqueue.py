"""Group commit of concurrent enqueues on the PostgreSQL store
(rocketjob/store/postgres/enqueue.py), on a real server: every job stored once, shared
statements, and a caller's duplicate singleton fails only that caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from rocketjob.errors import DuplicateJob
from rocketjob.group_commit import Slot
from rocketjob.store.base import JobDoc
from rocketjob.store.postgres import PostgresStore
from rocketjob.store.postgres.enqueue import Docs

from .conftest import POSTGRES_URL, make_env, require_service
from .helpers import enqueue_concurrently, job_doc


@pytest.fixture
def store(tmp_path: Any) -> Iterator[PostgresStore]:
    """A PostgreSQL store on a fresh schema."""
    require_service("postgres")
    env, name = make_env("postgres", tmp_path)
    opened = PostgresStore(env.url)
    try:
        yield opened
    finally:
        opened.close()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def test_concurrent_enqueues_are_all_stored_in_shared_statements(store: PostgresStore) -> None:
    threads, per_thread = 8, 60
    every = enqueue_concurrently(store, threads, per_thread)
    assert len(set(every)) == threads * per_thread
    assert store.count_jobs() == {"queued": threads * per_thread}
    assert all(store.get_job(job_id) is not None for job_id in every[::7])
    committer = store._enqueues
    assert committer.largest > 1  # callers shared a statement
    assert committer.transactions < threads * per_thread


def _slot(*docs: JobDoc) -> Slot[Docs]:
    """One caller's queued documents, as the group commit holds them."""
    slot: Slot[Docs] = Slot(list(docs))
    return slot


def test_one_callers_duplicate_singleton_fails_only_that_caller(store: PostgresStore) -> None:
    store.insert_jobs([job_doc(singleton_key="k")])
    first, duplicate, third = (
        _slot(job_doc(), job_doc()),
        _slot(job_doc(), job_doc(singleton_key="k")),
        _slot(job_doc()),
    )
    store._enqueues.write_batch([first, duplicate, third])
    assert first.error is None and third.error is None
    assert isinstance(duplicate.error, psycopg.errors.UniqueViolation)
    assert store.count_jobs() == {"queued": 4}  # the singleton, two of first, one of third
    assert store.get_job(duplicate.item[0]["id"]) is None


def test_a_duplicate_singleton_enqueue_raises_duplicate_job(store: PostgresStore) -> None:
    store.insert_jobs([job_doc(singleton_key="k")])
    with pytest.raises(DuplicateJob, match="singleton"):
        store.insert_jobs([job_doc(singleton_key="k")])
    assert store.count_jobs() == {"queued": 1}
