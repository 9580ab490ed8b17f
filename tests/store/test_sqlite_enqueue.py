"""Group commit of concurrent enqueues on the SQLite store (rocketjob/store/sqlite/enqueue.py),
on a real SQLite file: every job stored once, callers' rows all or none on their own, and
no caller told its jobs were stored when their transaction failed."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rocketjob.errors import DuplicateJob, StoreError, StoreUnavailable
from rocketjob.group_commit import Slot
from rocketjob.store.sqlite import SQLiteStore
from rocketjob.store.sqlite.enqueue import EnqueueCommitter, Rows
from rocketjob.store.sqlite.rows import job_to_row
from store.helpers import enqueue_concurrently, job_doc
from tests.support import wait_until


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(f"sqlite:///{tmp_path / 'rj.db'}")
    yield opened
    opened.close()


def _rows(*docs: dict[str, Any]) -> list[Any]:
    return [job_to_row(doc) for doc in docs]


def _entry(*docs: dict[str, Any]) -> Slot[Rows]:
    """One caller's rows, as the group commit holds them."""
    return Slot(_rows(*docs))


def test_concurrent_enqueues_are_all_stored_in_shared_commits(store: SQLiteStore) -> None:
    threads, per_thread = 8, 150
    every = enqueue_concurrently(store, threads, per_thread)
    assert store.count_jobs() == {"queued": threads * per_thread}
    assert all(store.get_job(job_id) is not None for job_id in every[:: threads * 5])
    committer = store._enqueues
    assert committer.largest > 1  # callers shared a commit
    assert committer.transactions < threads * per_thread


def test_one_callers_duplicate_fails_only_that_caller(store: SQLiteStore) -> None:
    store.insert_jobs([job_doc(singleton_key="k")])
    first, duplicate, third = (
        _entry(job_doc(), job_doc()),
        _entry(job_doc(), job_doc(singleton_key="k")),  # all or none: neither row
        _entry(job_doc()),
    )
    store._enqueues.write_batch([first, duplicate, third])
    assert first.error is None and third.error is None
    assert isinstance(duplicate.error, DuplicateJob)
    assert store.count_jobs() == {"queued": 4}  # the singleton, two of first, one of third
    assert store.get_job(duplicate.item[0][0]) is None
    assert first.written and third.written and not duplicate.written


def test_a_failed_transaction_stores_nothing_and_tells_every_caller(store: SQLiteStore) -> None:
    def failing_write(fn: Any) -> Any:
        def then_fail(conn: Any) -> None:
            fn(conn)  # the rows are written, then the commit fails (a full disk, say)
            raise StoreUnavailable("disk I/O error")

        return store._db.write(then_fail)

    committer = EnqueueCommitter(failing_write, store._db.integrity_error)
    batch = [_entry(job_doc()), _entry(job_doc())]
    committer.write_batch(batch)
    assert all(isinstance(entry.error, StoreUnavailable) for entry in batch)
    assert store.count_jobs() == {}


def test_an_interrupted_writer_leaves_no_caller_believing_its_jobs_were_stored(
    store: SQLiteStore,
) -> None:
    def interrupted(fn: Any) -> Any:
        raise KeyboardInterrupt

    committer = EnqueueCommitter(interrupted, store._db.integrity_error)
    batch = [_entry(job_doc()), _entry(job_doc())]
    with pytest.raises(KeyboardInterrupt):
        committer.write_batch(batch)
    assert all(isinstance(entry.error, StoreError) for entry in batch)


def _held_first_commit(
    store: SQLiteStore,
) -> tuple[EnqueueCommitter, threading.Event, threading.Event]:
    """A committer on ``store`` whose first transaction waits, once ``writing`` is set,
    until ``release`` is: callers arriving meanwhile queue behind it."""
    writing, release = threading.Event(), threading.Event()

    def slow_first_write(fn: Any, **options: Any) -> Any:
        if not writing.is_set():
            writing.set()
            release.wait(10)
        return store._db.write(fn, **options)

    return EnqueueCommitter(slow_first_write, store._db.integrity_error), writing, release


def test_callers_queued_behind_a_writer_are_written_by_the_next(store: SQLiteStore) -> None:
    """While one caller's commit runs, others queue; the next of them writes them all in
    one transaction and each returns (or raises) with its own outcome."""
    committer, writing, release = _held_first_commit(store)
    store.insert_jobs([job_doc(singleton_key="taken")])
    outcomes: dict[str, BaseException | None] = {}

    def call(name: str, doc: dict[str, Any]) -> None:
        try:
            committer.insert(_rows(doc))
            outcomes[name] = None
        except BaseException as exc:  # recorded for the assertions
            outcomes[name] = exc

    first = threading.Thread(target=call, args=("first", job_doc()))
    first.start()
    assert writing.wait(10)
    queued = [
        threading.Thread(target=call, args=(name, doc))
        for name, doc in (
            ("a", job_doc()),
            ("dup", job_doc(singleton_key="taken")),
            ("b", job_doc()),
        )
    ]
    for thread in queued:
        thread.start()
    wait_until(lambda: committer.queued >= 3, timeout=10, interval=0.001)
    assert committer.queued == 3
    release.set()
    for thread in [first, *queued]:
        thread.join(10)
    assert outcomes["first"] is None and outcomes["a"] is None and outcomes["b"] is None
    assert isinstance(outcomes["dup"], DuplicateJob)
    assert committer.transactions == 2 and committer.largest == 3
    assert store.count_jobs() == {"queued": 4}


class _Interrupted(BaseException):
    """Raised by the test's signal handler, as KeyboardInterrupt would be."""


def test_a_caller_interrupted_while_queued_withdraws_its_rows(store: SQLiteStore) -> None:
    """The main thread waits behind a slow commit and gets a signal's exception: its rows
    are not written, the writer finishes, and later enqueues do not hang."""
    committer, writing, release = _held_first_commit(store)

    def interrupt(signum: int, frame: Any) -> None:
        raise _Interrupted

    first = threading.Thread(target=committer.insert, args=(_rows(job_doc()),))
    first.start()
    assert writing.wait(10)
    withdrawn = job_doc()
    rows = _rows(withdrawn)
    previous = signal.signal(signal.SIGUSR1, interrupt)
    try:
        sender = threading.Timer(0.2, os.kill, args=(os.getpid(), signal.SIGUSR1))
        with pytest.raises(_Interrupted):
            sender.start()
            committer.insert(rows)  # queued behind the slow commit
        sender.join()
    finally:
        signal.signal(signal.SIGUSR1, previous)
    release.set()
    first.join(10)
    later = job_doc()
    committer.insert(_rows(later))  # the lead was not lost
    assert store.get_job(withdrawn["id"]) is None
    assert store.get_job(later["id"]) is not None
    assert store.count_jobs() == {"queued": 2}


def test_a_caller_interrupted_after_being_handed_the_lead_passes_it_on(
    store: SQLiteStore,
) -> None:
    """The writer before it handed a queued caller the lead (and its writer's place),
    then that caller was interrupted: its rows are withdrawn and the lead goes to the next
    queued caller, so nobody waits for a leader that will never come."""
    group = store._enqueues._group
    handed, behind = _entry(job_doc()), _entry(job_doc())
    handed.lead = True
    group._writers, group._pending = 1, [handed, behind]
    group._withdraw(handed)
    assert group._pending == [behind] and behind.lead and group._writers == 1
    assert behind.wake.acquire(timeout=0)  # woken to lead
    group._withdraw(behind)  # interrupted too: nobody left, the writer's place is free
    assert group._pending == [] and group._writers == 0
    done = threading.Thread(target=store.insert_jobs, args=([job_doc()],))
    done.start()
    done.join(10)
    assert not done.is_alive()
    assert store.count_jobs() == {"queued": 1}


def test_a_lone_single_job_enqueue_is_one_statement_and_a_batch_one_transaction(
    store: SQLiteStore,
) -> None:
    statements: list[str] = []
    store._db.conn.set_trace_callback(statements.append)
    store.insert_jobs([job_doc()])
    assert [sql.split()[0] for sql in statements] == ["INSERT"]  # SQLite's implicit txn
    statements.clear()
    store.insert_jobs([job_doc(), job_doc()])
    assert [sql.split()[0] for sql in statements] == ["BEGIN", "INSERT", "INSERT", "COMMIT"]
    statements.clear()
    with pytest.raises(DuplicateJob):  # the lone statement fails whole, leaving no txn open
        store.insert_jobs([job_doc(singleton_key="k"), job_doc(singleton_key="k")])
    store.insert_jobs([job_doc(singleton_key="k")])
    with pytest.raises(DuplicateJob):
        store.insert_jobs([job_doc(singleton_key="k")])
    assert not store._db.conn.in_transaction
    store.insert_jobs([job_doc()])
    assert store.count_jobs() == {"queued": 5}
