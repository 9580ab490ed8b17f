"""Store contract, behaviours: singleton keys, throttled claims, batched deletes and
dirmon entries. Runs unchanged against SQLite, PostgreSQL and MongoDB."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from rocketjob.errors import DuplicateJob, ValidationError
from rocketjob.ids import new_id
from rocketjob.store import ClaimLimit, Finish, Store
from rocketjob.store.base import JobBatch

from .conftest import StoreEnv, spawn_pool
from .helpers import CLASS, claim_limited, job_doc, utcnow

OTHER = "app.jobs.ExportJob"


# -- singleton keys ------------------------------------------------------------------------
def test_second_active_job_with_a_key_is_refused(store: Store) -> None:
    first = job_doc(singleton_key="k")
    store.insert_jobs([first])
    with pytest.raises(DuplicateJob):
        store.insert_jobs([job_doc(singleton_key="k")])
    with pytest.raises(DuplicateJob):  # all or none
        store.insert_jobs([job_doc(singleton_key="x"), job_doc(singleton_key="x")])
    with pytest.raises(DuplicateJob):  # a bulk enqueue of a singleton class
        store.insert_jobs(JobBatch(job_doc(singleton_key="k"), [new_id()], [{}]))
    store.insert_jobs([job_doc(), job_doc(), job_doc(singleton_key="other")])
    assert store.count_jobs() == {"queued": 4}
    assert store.get_job(first["id"])["singleton_key"] == "k"  # type: ignore[index]


def test_key_is_freed_by_a_final_or_failed_state_and_held_again_on_retry(store: Store) -> None:
    first = job_doc(singleton_key="k")
    store.insert_jobs([first])
    [claimed] = store.claim_jobs(["h:1:t0"], [CLASS], utcnow())
    with pytest.raises(DuplicateJob):  # running still holds it
        store.insert_jobs([job_doc(singleton_key="k")])
    store.finish_jobs([Finish(first["id"], "h:1:t0", changes={"state": "failed"})])
    second = job_doc(singleton_key="k")
    store.insert_jobs([second])
    with pytest.raises(DuplicateJob):  # retrying the failed one would make two
        store.update_job(first["id"], {"state": "queued"}, from_states=["failed"])
    assert store.update_job(second["id"], {"state": "paused"}, from_states=["queued"])
    assert store.update_job(second["id"], {"state": "aborted"}, from_states=["paused"])
    assert store.update_job(first["id"], {"state": "queued"}, from_states=["failed"])
    assert claimed["singleton_key"] == "k"


# -- throttled claims ---------------------------------------------------------------------
def test_claim_never_exceeds_a_class_limit(store: Store) -> None:
    store.insert_jobs([job_doc() for _ in range(5)] + [job_doc(job_class=OTHER)])
    limit = [ClaimLimit("class:" + CLASS, frozenset({CLASS}), 2)]
    workers = [f"h:1:t{i}" for i in range(4)]
    first = store.claim_jobs(workers, [CLASS, OTHER], utcnow(), limit)
    assert sorted(doc["job_class"] for doc in first) == sorted([CLASS, CLASS, OTHER])
    assert store.claim_jobs(workers, [CLASS, OTHER], utcnow(), limit) == []
    done = next(doc for doc in first if doc["job_class"] == CLASS)
    store.finish_jobs([Finish(done["id"], done["worker_name"], destroy=True)])
    again = store.claim_jobs(workers, [CLASS], utcnow(), limit)
    assert len(again) == 1


def test_group_limit_spans_classes(store: Store) -> None:
    store.insert_jobs([job_doc() for _ in range(3)] + [job_doc(job_class=OTHER) for _ in range(3)])
    group = [ClaimLimit("group:io", frozenset({CLASS, OTHER}), 3)]
    workers = [f"h:1:t{i}" for i in range(6)]
    assert len(store.claim_jobs(workers, [CLASS, OTHER], utcnow(), group)) == 3
    assert store.claim_jobs(workers, [CLASS, OTHER], utcnow(), group) == []


def test_finish_and_claim_counts_the_finished_job_out_of_the_limit(store: Store) -> None:
    store.insert_jobs([job_doc() for _ in range(5)])
    limit = [ClaimLimit("class:" + CLASS, frozenset({CLASS}), 2)]
    first = store.claim_jobs(["h:1:t0", "h:1:t1", "h:1:t2"], [CLASS], utcnow(), limit)
    assert len(first) == 2
    done, claimed = store.finish_and_claim(
        [Finish(first[0]["id"], first[0]["worker_name"], destroy=True)],
        ["h:1:t0", "h:1:t2", "h:1:t3"],
        [CLASS],
        utcnow(),
        limit,
    )
    assert done == [first[0]["id"]] and len(claimed) == 1  # one slot freed, one taken
    assert store.count_jobs() == {"queued": 2, "running": 2}


def test_finish_and_claim_from_many_threads_hands_each_job_out_once(store: Store) -> None:
    store.insert_jobs([job_doc() for _ in range(60)])
    seen: list[list[str]] = [[] for _ in range(4)]

    def drain(n: int) -> None:
        workers = [f"h:{n}:t{i}" for i in range(3)]
        empty_rounds = 0  # as claim_until_empty: a claim racing others may come back empty
        held = store.claim_jobs(workers, [CLASS], utcnow())
        while empty_rounds < 3:
            if not held:
                empty_rounds += 1
                held = store.claim_jobs(workers, [CLASS], utcnow())
                continue
            empty_rounds = 0
            seen[n] += [doc["id"] for doc in held]
            finished = [Finish(doc["id"], doc["worker_name"], destroy=True) for doc in held]
            done, held = store.finish_and_claim(finished, workers, [CLASS], utcnow())
            assert sorted(done) == sorted(item.job_id for item in finished)

    threads = [threading.Thread(target=drain, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    every = [job_id for ids in seen for job_id in ids]
    assert len(every) == 60 and len(set(every)) == 60
    assert store.count_jobs() == {}


def test_limit_holds_across_processes(store_env: StoreEnv) -> None:
    store = store_env.open()
    store.insert_jobs([job_doc() for _ in range(40)])
    start_at = time.time() + 1.5
    with spawn_pool(4) as pool:
        futures = [pool.submit(claim_limited, store_env.url, f"h:{p}", 3, start_at)
                   for p in range(4)]  # fmt: skip
        claimed = [job_id for f in futures for job_id in f.result(timeout=60)]
    assert len(claimed) == 3
    assert store.count_jobs() == {"queued": 37, "running": 3}


# -- batched deletes ------------------------------------------------------------------------
def test_delete_jobs_by_state_and_age_in_batches(store: Store) -> None:
    old = utcnow() - dt.timedelta(days=10)
    olds = [job_doc(state="completed", completed_at=old) for _ in range(5)]
    others = [
        job_doc(state="failed", completed_at=old),
        job_doc(state="completed", completed_at=utcnow()),
        job_doc(state="queued"),
    ]
    store.insert_jobs([*olds, *others])
    cutoff = utcnow() - dt.timedelta(days=7)
    assert store.delete_jobs(["completed"], cutoff, 3) == 3
    assert store.delete_jobs(["completed"], cutoff, 3) == 2
    assert store.delete_jobs(["completed"], cutoff, 3) == 0
    assert store.delete_jobs([], cutoff, 3) == 0
    assert store.count_jobs() == {"failed": 1, "completed": 1, "queued": 1}


# -- dirmon entries -------------------------------------------------------------------------
def test_dirmon_entries_round_trip(store: Store) -> None:
    entry = {"name": "inbox", "pattern": "/data/in/*.csv", "job_class": CLASS,
             "archive_directory": "/data/archive", "properties": {"priority": 5, "a": [1]},
             "enabled": True, "last_error": None, "updated_at": utcnow()}  # fmt: skip
    store.insert_dirmon_entry(entry)
    with pytest.raises(ValidationError):
        store.insert_dirmon_entry(entry)
    [got] = store.list_dirmon_entries()
    assert {k: v for k, v in got.items() if k != "updated_at"} == {
        k: v for k, v in entry.items() if k != "updated_at"
    }
    assert abs((got["updated_at"] - entry["updated_at"]).total_seconds()) < 0.01
    assert store.update_dirmon_entry("inbox", {"enabled": False, "last_error": "boom"})
    assert not store.update_dirmon_entry("missing", {"enabled": False})
    [got] = store.list_dirmon_entries()
    assert (got["enabled"], got["last_error"]) == (False, "boom")
    assert store.delete_dirmon_entry("inbox")
    assert not store.delete_dirmon_entry("inbox")
    assert store.list_dirmon_entries() == []
