"""The GroupCommitter's batching on a real SQLite store: the leader waits (up to its
linger) for the worker's other busy threads, and writes a lone or long job at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from rocketjob.clock import utcnow
from rocketjob.executor import GroupCommitter
from rocketjob.store import Finish, Store, open_store
from tests.store.helpers import CLASS, job_doc


class CountingStore:
    """A real store whose ``finish_jobs`` batches are recorded (the committers here get no
    ``claim_ahead``, so every batch goes through ``finish_jobs``)."""

    concurrent_writers = 1

    def __init__(self, store: Store) -> None:
        self.store = store
        self.batches: list[int] = []

    def finish_jobs(self, items: Sequence[Finish]) -> list[str]:
        self.batches.append(len(items))
        return self.store.finish_jobs(items)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    yield store
    store.close()


def claimed(store: Store, count: int) -> list[Finish]:
    store.insert_jobs([job_doc() for _ in range(count)])
    docs = store.claim_jobs([f"h:1:{n}" for n in range(count)], [CLASS], utcnow())
    return [Finish(doc["id"], doc["worker_name"], destroy=True) for doc in docs]


def commit_all(committer: GroupCommitter, items: list[Finish], gap: float) -> list[bool]:
    """Each item committed by its own thread, ``gap`` seconds after the previous one."""
    results: list[bool] = [False] * len(items)

    def commit(n: int) -> None:
        results[n] = committer.commit(items[n])

    threads = [threading.Thread(target=commit, args=(n,)) for n in range(len(items))]
    for thread in threads:
        thread.start()
        time.sleep(gap)  # the behaviour under test: arrivals spaced by ``gap``
    for thread in threads:
        thread.join(10)
    return results


def test_the_leader_waits_for_the_other_busy_threads(store: Store) -> None:
    counting = CountingStore(store)
    committer = GroupCommitter(counting, busy=lambda: 3, linger=5.0)  # type: ignore[arg-type]
    items = claimed(store, 3)
    began = time.monotonic()
    assert commit_all(committer, items, gap=0.05) == [True, True, True]
    assert counting.batches == [3]
    assert time.monotonic() - began < 2.5  # written once all were in, not at the linger
    assert [store.get_job(item.job_id) for item in items] == [None, None, None]


def test_a_lone_job_is_written_at_once(store: Store) -> None:
    counting = CountingStore(store)
    committer = GroupCommitter(counting, busy=lambda: 1, linger=5.0)  # type: ignore[arg-type]
    (item,) = claimed(store, 1)
    began = time.monotonic()
    assert committer.commit(item)
    assert time.monotonic() - began < 2.5 and counting.batches == [1]


def test_the_leader_stops_waiting_at_the_linger(store: Store) -> None:
    counting = CountingStore(store)
    committer = GroupCommitter(counting, busy=lambda: 2, linger=0.3)  # type: ignore[arg-type]
    (item,) = claimed(store, 1)
    began = time.monotonic()
    assert committer.commit(item)  # the other busy thread never comes
    assert 0.3 <= time.monotonic() - began < 3.0 and counting.batches == [1]


def test_jobs_that_run_longer_than_the_linger_are_written_at_once(store: Store) -> None:
    counting = CountingStore(store)
    committer = GroupCommitter(counting, busy=lambda: 2, linger=5.0)  # type: ignore[arg-type]
    for _ in range(100):
        committer.observe(20.0)  # a typical job runs 20 s
    (item,) = claimed(store, 1)
    began = time.monotonic()
    assert committer.commit(item)
    assert time.monotonic() - began < 2.5 and counting.batches == [1]
