"""Store contract, batch job slices (rocketjob.store.slices). Runs unchanged against
SQLite, PostgreSQL and MongoDB."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import orjson
import pytest

from rocketjob.store import Store
from rocketjob.store.slices import NewSlice, SliceStore, slice_store

from .conftest import StoreEnv
from .helpers import CLASS, job_doc, server_doc, utcnow

OTHER = "app.jobs.ExportJob"


def pieces(count: int, size: int = 2) -> Iterator[NewSlice]:
    """``count`` slices of ``size`` records each: record i is ``{"n": i}`` (1-based)."""
    for number in range(1, count + 1):
        first = (number - 1) * size + 1
        records = [{"n": first + i} for i in range(size)]
        yield NewSlice(number, first, size, orjson.dumps(records).decode())


def opened(store: Store, count: int = 3, **values: object) -> tuple[SliceStore, str]:
    """A batch job with ``count`` slices, running and opened (no worker)."""
    slices = slice_store(store)
    doc = job_doc(**values)
    assert slices.insert_batch_job(doc, pieces(count)) == count
    store.update_job(doc["id"], {"state": "running"})
    return slices, doc["id"]


def test_upload_stores_the_job_and_its_slices(store: Store) -> None:
    slices = slice_store(store)
    doc = job_doc()
    assert slices.insert_batch_job(doc, pieces(5)) == 5
    assert store.get_job(doc["id"])["state"] == "queued"  # type: ignore[index]
    assert slices.count_slices(doc["id"]) == {"queued": 5}
    page = slices.read_slices(doc["id"], 0, 2)
    assert [s["number"] for s in page] == [1, 2]
    assert [s["first_record"] for s in page] == [1, 3]
    assert [s["number"] for s in slices.read_slices(doc["id"], 2, 10)] == [3, 4, 5]


def test_a_failing_upload_leaves_no_job_and_no_slice(store: Store) -> None:
    slices = slice_store(store)
    doc = job_doc()

    def broken() -> Iterator[NewSlice]:
        yield from pieces(1500, 1)  # more than one insert page on MongoDB
        raise ValueError("line 3001: 4 fields, expected 5")

    with pytest.raises(ValueError, match="line 3001"):
        slices.insert_batch_job(doc, broken())
    assert store.get_job(doc["id"]) is None
    assert slices.count_slices(doc["id"]) == {}


def test_no_slice_is_claimed_before_its_job_is_opened(store: Store) -> None:
    slices = slice_store(store)
    doc = job_doc()
    slices.insert_batch_job(doc, pieces(2))
    assert slices.claim_slices(["h:1:t0"], [CLASS], utcnow(), {}) == []  # queued job
    store.update_job(doc["id"], {"state": "running", "worker_name": "h:1:t9"})
    assert slices.claim_slices(["h:1:t0"], [CLASS], utcnow(), {}) == []  # before_batch
    store.update_job(doc["id"], {"worker_name": None})
    assert slices.claim_slices(["h:1:t0"], [OTHER], utcnow(), {}) == []  # other classes
    [claimed] = slices.claim_slices(["h:1:t0"], [CLASS], utcnow(), {})
    assert (claimed["number"], claimed["state"], claimed["worker_name"]) == (1, "running", "h:1:t0")
    assert claimed["server_name"] == "h:1"
    assert orjson.loads(claimed["records"]) == [{"n": 1}, {"n": 2}]


def test_claims_follow_job_priority_then_slice_number(store: Store) -> None:
    slices, low = opened(store, 2, priority=60)
    _, high = opened(store, 2, priority=10)
    claimed = slices.claim_slices([f"h:1:t{i}" for i in range(3)], [CLASS], utcnow(), {})
    assert [(s["job_id"], s["number"]) for s in claimed] == [(high, 1), (high, 2), (low, 1)]
    assert [s["worker_name"] for s in claimed] == ["h:1:t0", "h:1:t1", "h:1:t2"]


def test_concurrent_claims_never_share_a_slice(store_env: StoreEnv, store: Store) -> None:
    _slices, job_id = opened(store, 60)
    taken: list[tuple[str, int]] = []
    lock = threading.Lock()

    def claimer(index: int) -> None:
        mine = slice_store(store_env.open())
        while True:
            got = mine.claim_slices([f"h:{index}:t0", f"h:{index}:t1"], [CLASS], utcnow(), {})
            if not got:
                return
            with lock:
                taken.extend((s["job_id"], s["number"]) for s in got)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(taken) == [(job_id, n) for n in range(1, 61)]


def test_the_class_limit_bounds_running_slices_of_one_job(store: Store) -> None:
    slices, job_id = opened(store, 5)
    names = [f"h:1:t{i}" for i in range(5)]
    claimed = slices.claim_slices(names, [CLASS], utcnow(), {CLASS: 2})
    assert len(claimed) == 2
    assert slices.claim_slices(names, [CLASS], utcnow(), {CLASS: 2}) == []
    first = claimed[0]
    assert slices.finish_slice(
        job_id, first["number"], first["worker_name"], {"state": "completed"}
    )
    assert len(slices.claim_slices(names, [CLASS], utcnow(), {CLASS: 2})) == 1


def test_finish_is_a_compare_and_set_on_the_running_worker(store: Store) -> None:
    slices, job_id = opened(store, 1)
    [claimed] = slices.claim_slices(["h:1:t0"], [CLASS], utcnow(), {})
    assert not slices.finish_slice(job_id, 1, "h:1:t1", {"state": "completed"})
    failure = {"exception": {"class_name": "KeyError"}, "record_number": 2, "index": 1}
    changes = {"state": "failed", "output": "[1]", "failure": failure, "completed_at": utcnow()}
    assert slices.finish_slice(job_id, 1, "h:1:t0", changes)
    assert not slices.finish_slice(job_id, 1, "h:1:t0", {"state": "completed"})  # not running
    [failed] = slices.failed_slices(job_id)
    assert failed["failure"] == failure and failed["output"] == "[1]"
    assert failed["worker_name"] is None
    assert slices.count_slices(job_id) == {"failed": 1}
    assert slices.retry_slices(job_id) == 1
    assert slices.count_slices(job_id) == {"queued": 1}
    [again] = slices.claim_slices(["h:1:t0"], [CLASS], utcnow(), {})
    assert again["failure"] == failure and again["output"] == "[1]"  # resumes from the record
    assert claimed["number"] == again["number"] == 1


def test_a_dead_servers_slices_are_requeued(store: Store) -> None:
    slices, job_id = opened(store, 3)
    slices.claim_slices(["dead:1:t0", "dead:1:t1"], [CLASS], utcnow(), {})
    slices.claim_slices(["live:2:t0"], [CLASS], utcnow(), {})
    assert slices.requeue_slices("dead:1") == 2
    assert slices.count_slices(job_id) == {"queued": 2, "running": 1}
    again = slices.claim_slices(["live:2:t1", "live:2:t2"], [CLASS], utcnow(), {})
    assert sorted(s["number"] for s in again) == [1, 2]


def test_zombie_reaping_leaves_slices_to_requeue_slices(store: Store) -> None:
    slices, job_id = opened(store, 1)
    store.register_server(server_doc("gone:7"))
    slices.claim_slices(["gone:7:t0"], [CLASS], utcnow(), {})
    assert slices.requeue_slices("gone:7") == 1
    assert slices.count_slices(job_id) == {"queued": 1}


def test_take_batch_job_is_given_to_exactly_one_caller(store: Store) -> None:
    slices, job_id = opened(store, 1)
    assert slices.take_batch_job(job_id, "h:1:t0")
    assert not slices.take_batch_job(job_id, "h:2:t0")
    doc = store.get_job(job_id)
    assert doc is not None and (doc["worker_name"], doc["server_name"]) == ("h:1:t0", "h:1")


@pytest.mark.parametrize("how", ["delete_job", "delete_jobs", "delete_slices"])
def test_slices_are_deleted_with_their_job(store: Store, how: str) -> None:
    slices, job_id = opened(store, 3)
    _, other = opened(store, 2)
    if how == "delete_job":
        assert store.delete_job(job_id)
    elif how == "delete_jobs":
        store.update_job(job_id, {"state": "completed", "completed_at": utcnow()})
        assert store.delete_jobs(["completed"], utcnow(), 10) == 1
    else:
        assert slices.delete_slices(job_id) == 3
    assert slices.count_slices(job_id) == {}
    assert slices.count_slices(other) == {"queued": 2}


def test_finish_and_claim_takes_the_next_slice_in_one_step(store: Store) -> None:
    slices, job_id = opened(store, 3)
    [first] = slices.claim_slices(["h:1:t0"], [CLASS], utcnow(), {})
    done = {"state": "completed", "completed_at": utcnow()}
    written, following = slices.finish_and_claim_slice(job_id, 1, "h:1:t0", done, utcnow(), 0)
    assert written and following is not None
    assert (following["number"], following["worker_name"]) == (2, "h:1:t0")
    assert slices.finish_and_claim_slice(job_id, 1, "h:1:t0", done, utcnow(), 0) == (False, None)
    [other] = slices.claim_slices(["h:2:t0"], [CLASS], utcnow(), {})
    assert other["number"] == 3
    written, following = slices.finish_and_claim_slice(job_id, 2, "h:1:t0", done, utcnow(), 0)
    assert written and following is None  # none left queued
    assert slices.count_slices(job_id) == {"completed": 2, "running": 1}
    assert first["number"] == 1


def test_finish_and_claim_stops_at_an_aborted_job_and_at_the_limit(store: Store) -> None:
    slices, job_id = opened(store, 4)
    claimed = slices.claim_slices(["h:1:t0", "h:1:t1"], [CLASS], utcnow(), {})
    done = {"state": "completed", "completed_at": utcnow()}
    one, two = claimed
    written, following = slices.finish_and_claim_slice(
        job_id, one["number"], one["worker_name"], done, utcnow(), 1
    )  # t1 still runs a slice: a limit of 1 leaves no room
    assert written and following is None
    store.update_job(job_id, {"state": "aborted"})
    written, following = slices.finish_and_claim_slice(
        job_id, two["number"], two["worker_name"], done, utcnow(), 0
    )
    assert written and following is None
    assert slices.count_slices(job_id) == {"completed": 2, "queued": 2}


def test_running_slices_of_unregistered_servers_are_requeued(store: Store) -> None:
    slices, job_id = opened(store, 3)
    store.register_server(server_doc("live:1"))
    slices.claim_slices(["live:1:t0"], [CLASS], utcnow(), {})
    slices.claim_slices(["gone:2:t0", "gone:2:t1"], [CLASS], utcnow(), {})
    assert slices.requeue_orphan_slices() == 2
    assert slices.count_slices(job_id) == {"running": 1, "queued": 2}


def test_a_duplicate_singleton_upload_stores_nothing(store: Store) -> None:
    from rocketjob.errors import DuplicateJob

    slices = slice_store(store)
    slices.insert_batch_job(job_doc(singleton_key="k"), pieces(2))
    second = job_doc(singleton_key="k")
    with pytest.raises(DuplicateJob):
        slices.insert_batch_job(second, pieces(1500, 1))
    assert store.get_job(second["id"]) is None
    assert slices.count_slices(second["id"]) == {}


def test_requeues_on_a_store_that_never_held_a_batch_job(store: Store) -> None:
    """A worker's exit re-queues slices on every store, batch jobs or not: nothing to do,
    and nothing is created."""
    slices = slice_store(store)
    assert slices.requeue_slices("h:1") == 0
    assert slices.requeue_orphan_slices() == 0
    assert slices.count_slices("nope") == {}


def test_insert_slices_gives_an_existing_job_its_records(store: Store) -> None:
    slices = slice_store(store)
    doc = job_doc()
    store.insert_jobs([doc])  # a batch job made without records (a cron instance)
    assert slices.insert_slices(doc["id"], pieces(3)) == 3
    assert slices.count_slices(doc["id"]) == {"queued": 3}
    assert [s["first_record"] for s in slices.read_slices(doc["id"], 0, 5)] == [1, 3, 5]


def _blame(slices: SliceStore, job_id: str, numbers: list[int]) -> None:
    """Give the slices ``numbers`` one crash each, as the supervisor does (claim, requeue)."""
    for number in numbers:
        slices.claim_slices([f"dead:1:t{number}"], [CLASS], utcnow(), {})
    for number in numbers:
        changes = {"state": "queued", "crash_count": 1, "started_at": None}
        assert slices.finish_slice(job_id, number, f"dead:1:t{number}", changes)


def test_suspect_slices_run_one_at_a_time(store: Store) -> None:
    slices, job_id = opened(store, 5)
    _blame(slices, job_id, [1, 2])
    assert [s["crash_count"] for s in slices.read_slices(job_id, 0, 5)] == [1, 1, 0, 0, 0]
    names = [f"h:1:t{i}" for i in range(3)]
    claimed = slices.claim_slices(names, [CLASS], utcnow(), {})
    assert [s["number"] for s in claimed] == [1, 3, 4]  # one suspect, then unblamed ones
    # while suspect 1 runs, the other suspect waits; the next unblamed slice is taken
    written, following = slices.finish_and_claim_slice(
        job_id, 3, "h:1:t1", {"state": "completed"}, utcnow(), 0
    )
    assert written and following is not None and following["number"] == 5
    assert slices.claim_slices(["h:1:t9"], [CLASS], utcnow(), {}) == []
    assert slices.finish_slice(job_id, 1, "h:1:t0", {"state": "completed"})
    [second] = slices.claim_slices(["h:1:t9"], [CLASS], utcnow(), {})
    assert (second["number"], second["crash_count"]) == (2, 1)


def test_retry_clears_a_failed_slices_crashes(store: Store) -> None:
    slices, job_id = opened(store, 1)
    slices.claim_slices(["dead:1:t1"], [CLASS], utcnow(), {})
    failure = {"exception": {"class_name": "rocketjob.WorkerCrashed"}, "record_number": 2,
               "index": 1}  # fmt: skip
    changes = {"state": "failed", "crash_count": 3, "failure": failure, "completed_at": utcnow()}
    assert slices.finish_slice(job_id, 1, "dead:1:t1", changes)
    [failed] = slices.failed_slices(job_id)
    assert (failed["crash_count"], failed["failure"]) == (3, failure)
    assert slices.retry_slices(job_id) == 1
    [again] = slices.claim_slices(["h:1:t0"], [CLASS], utcnow(), {})
    assert again["crash_count"] == 0 and again["failure"] == failure
