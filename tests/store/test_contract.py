"""The store contract: one suite, run unchanged against SQLite, PostgreSQL and MongoDB.

Every test gets a fresh, empty store (see conftest.py). Each test states one guarantee
of :mod:`rocketjob.store.base`.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from rocketjob import codec
from rocketjob.errors import StoreError, ValidationError
from rocketjob.ids import new_id
from rocketjob.store import ClaimLimit, Finish, JobQuery, Store
from rocketjob.store.base import ClaimFor, JobBatch
from rocketjob.store.slices import server_of
from tests.support import wait_until

from .conftest import StoreEnv, spawn_pool
from .helpers import CLASS, claim_until_empty, insert_one, job_doc, reap, server_doc, utcnow


# -- insert, get, round trips --------------------------------------------------------------
def test_insert_and_get_round_trip_every_field(store: Store) -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
    doc = job_doc(
        description="import a file",
        priority=7,
        arguments={"args": ["a.csv", 3, 1.5], "kwargs": {"z": 1, "a": 2}},
        run_at=when,
        expires_at=when + dt.timedelta(hours=1, microseconds=1),
        destroy_on_complete=False,
        collect_output=True,
        result={"rows": 10},
        created_at=when - dt.timedelta(microseconds=999),
        started_at=when,
        completed_at=when,
        failure_count=2,
        worker_name="host:1:t0",
        server_name="host:1",
        percent_complete=40,
        exception={
            "class_name": "KeyError",
            "message": "x",
            "backtrace": ["a", "b"],
            "worker_name": "host:1:t0",
        },
        log_level="debug",
        fields={"user_id": 42, "tags": ["a"]},
        attempts=[{"number": 1, "at": when.isoformat(), "started_at": None,
                   "worker_name": "host:1:t0", "class_name": "KeyError", "message": "x"}],
    )  # fmt: skip
    store.insert_jobs([doc])
    assert store.get_job(doc["id"]) == doc


def test_a_batch_inserts_the_template_with_each_id_and_arguments(store: Store) -> None:
    """A JobBatch (a bulk enqueue) reads back as full documents: the template's values
    (every field type set) with each job's own id and arguments."""
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
    template = job_doc(
        description="import", priority=7, run_at=when, expires_at=when, collect_output=True,
        destroy_on_complete=False, log_level="debug", fields={"user_id": 42, "tags": ["a"]},
    )  # fmt: skip
    ids = [new_id() for _ in range(3)]
    arguments = [{"args": [i, "x", 1.5, 1e20], "kwargs": {"z": i, "a": None}} for i in range(3)]
    store.insert_jobs(JobBatch(template, ids, arguments))
    for job_id, args in zip(ids, arguments, strict=True):
        got = store.get_job(job_id)
        assert got == {**template, "id": job_id, "arguments": args}
        assert codec.dumps(got["arguments"]) == codec.dumps(args)  # key order, number spelling
    assert store.count_jobs() == {"queued": 3}
    existing = ids[1]
    with pytest.raises((StoreError, Exception)):  # all or none
        store.insert_jobs(JobBatch(template, [new_id(), existing], arguments[:2]))
    assert store.count_jobs() == {"queued": 3}


def test_get_missing_job_is_none(store: Store) -> None:
    assert store.get_job(new_id()) is None


def test_datetimes_are_aware_utc_with_microseconds(store: Store) -> None:
    eastern = dt.timezone(dt.timedelta(hours=-5))
    local = dt.datetime(2026, 6, 1, 12, 0, 0, 654321, tzinfo=eastern)
    doc = job_doc(run_at=local, created_at=dt.datetime(2026, 6, 1, 0, 0, 0, 1, tzinfo=dt.UTC))
    store.insert_jobs([doc])
    got = store.get_job(doc["id"])
    assert got is not None
    assert got["run_at"] == local
    assert got["run_at"].utcoffset() == dt.timedelta(0)
    assert got["run_at"].microsecond == 654321
    assert got["created_at"].microsecond == 1


def test_encoded_json_values_round_trip_exactly(store: Store) -> None:
    value = {
        "floats": [1e20, 1.0, 0.1, -2.5e-300, 1.7976931348623157e308],
        "ints": [0, -(2**63), 2**63 - 1],
        "text": "héllo \u2603 \"quoted\" \\ \n",
        "order": {"z": 1, "a": 2, "m": 3},
        "odd keys": {"a.b": 1, "$set": 2, "": 3, "~dt": 4},
        "nested": [[{"deep": [None, True, False]}]],
        "extra": [dt.datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=dt.UTC), dt.date(2026, 2, 3),
                  Decimal("1.10"), uuid.UUID(int=7), b"\x00\xff", (1, "t")],
    }  # fmt: skip
    encoded = codec.encode(value)
    doc = job_doc(arguments={"args": [encoded], "kwargs": {}}, result=encoded,
                  fields={"payload": encoded})  # fmt: skip
    store.insert_jobs([doc])
    got = store.get_job(doc["id"])
    assert got is not None
    for name in ("arguments", "result", "fields"):
        assert codec.dumps(got[name]) == codec.dumps(doc[name]), name  # types, order, spelling
    assert codec.decode(got["result"]) == value
    updated = store.update_job(doc["id"], {"result": encoded["order"]})
    assert updated is not None and list(updated["result"]) == ["z", "a", "m"]


def test_insert_many_in_one_call(store: Store) -> None:
    docs = [job_doc() for _ in range(250)]
    store.insert_jobs(docs)
    assert store.count_jobs() == {"queued": 250}
    store.insert_jobs([])
    assert store.count_jobs() == {"queued": 250}


def test_insert_is_all_or_none(store: Store) -> None:
    existing = job_doc()
    store.insert_jobs([existing])
    before, after = job_doc(), job_doc()
    with pytest.raises((StoreError, Exception)):  # SQLite raises sqlite3.IntegrityError
        store.insert_jobs([before, job_doc(id=existing["id"]), after])
    assert store.get_job(before["id"]) is None
    assert store.get_job(after["id"]) is None
    assert store.count_jobs() == {"queued": 1}


def test_insert_with_connection_needs_postgres(store_env: StoreEnv, store: Store) -> None:
    if store_env.kind == "postgres":
        with pytest.raises(ValidationError):
            store.insert_jobs([job_doc()], connection=object())
    else:
        with pytest.raises(ValidationError):
            store.insert_jobs([job_doc()], connection=object())
    assert store.count_jobs() == {}


# -- update and delete: compare and set -----------------------------------------------------------
def test_update_job_applies_changes_and_returns_document(store: Store) -> None:
    doc = job_doc()
    store.insert_jobs([doc])
    when = utcnow()
    got = store.update_job(doc["id"], {"priority": 3, "run_at": when, "description": "d"})
    assert got is not None
    assert (got["priority"], got["run_at"], got["description"]) == (3, when, "d")
    assert store.get_job(doc["id"]) == got


def test_update_job_compare_and_set_on_states(store: Store) -> None:
    doc = job_doc()
    store.insert_jobs([doc])
    assert store.update_job(doc["id"], {"state": "paused"}, from_states=["running"]) is None
    assert store.get_job(doc["id"])["state"] == "queued"  # type: ignore[index]
    got = store.update_job(doc["id"], {"state": "paused"}, from_states=["queued", "failed"])
    assert got is not None and got["state"] == "paused"
    assert store.update_job(new_id(), {"state": "queued"}) is None


def test_update_job_compare_and_set_on_worker(store: Store) -> None:
    doc = job_doc(state="running", worker_name="h:1:t0", server_name="h:1")
    store.insert_jobs([doc])
    assert store.update_job(doc["id"], {"percent_complete": 50}, worker_name="h:1:t1") is None
    got = store.update_job(
        doc["id"], {"percent_complete": 50}, from_states=["running"], worker_name="h:1:t0"
    )
    assert got is not None and got["percent_complete"] == 50


def test_update_job_sets_values_to_none(store: Store) -> None:
    doc = job_doc(run_at=utcnow(), result={"a": 1}, exception={"class_name": "E", "message": "",
                  "backtrace": [], "worker_name": None})  # fmt: skip
    store.insert_jobs([doc])
    got = store.update_job(doc["id"], {"run_at": None, "result": None, "exception": None})
    assert got is not None and (got["run_at"], got["result"], got["exception"]) == (None,) * 3


def test_delete_job(store: Store) -> None:
    a, b = job_doc(), job_doc(state="running")
    store.insert_jobs([a, b])
    assert store.delete_job(a["id"]) is True
    assert store.delete_job(a["id"]) is False
    assert store.delete_job(b["id"], from_states=["queued", "failed"]) is False
    assert store.get_job(b["id"]) is not None
    assert store.delete_job(b["id"], from_states=["running"]) is True
    assert store.get_job(b["id"]) is None


# -- listing -------------------------------------------------------------------------------
def _mixed(store: Store) -> list[dict[str, object]]:
    docs = [
        job_doc(state="queued"),
        job_doc(state="running", server_name="h:1", worker_name="h:1:t0"),
        job_doc(state="failed", job_class="app.Other"),
        job_doc(state="queued", job_class="app.Other"),
        job_doc(state="running", server_name="h:2", worker_name="h:2:t0"),
        job_doc(state="completed"),
    ]
    store.insert_jobs(docs)
    return docs


def test_find_jobs_filters(store: Store) -> None:
    docs = _mixed(store)
    ids = [str(doc["id"]) for doc in docs]

    def found(**kw: object) -> list[str]:
        return [doc["id"] for doc in store.find_jobs(JobQuery(**kw))]  # type: ignore[arg-type]

    assert found() == ids
    assert found(states=["queued"]) == [ids[0], ids[3]]
    assert found(states=["running", "failed"]) == [ids[1], ids[2], ids[4]]
    assert found(job_class="app.Other") == [ids[2], ids[3]]
    assert found(job_class="app.Other", states=["failed"]) == [ids[2]]
    assert found(ids=[ids[5], ids[0], new_id()]) == [ids[0], ids[5]]
    assert found(server_name="h:2") == [ids[4]]
    assert found(states=["aborted"]) == []


def test_find_jobs_keyset_pagination_both_ways(store: Store) -> None:
    docs = [job_doc() for _ in range(23)]
    store.insert_jobs(docs)
    ids = [doc["id"] for doc in docs]
    for descending, expected in ((False, ids), (True, ids[::-1])):
        seen: list[str] = []
        after = None
        while True:
            page = store.find_jobs(JobQuery(after=after, limit=5, descending=descending))
            if not page:
                break
            assert len(page) <= 5
            seen.extend(doc["id"] for doc in page)
            after = page[-1]["id"]
        assert seen == expected
    assert len(store.find_jobs(JobQuery(limit=None))) == 23


def test_count_jobs_by_state_and_class(store: Store) -> None:
    _mixed(store)
    assert store.count_jobs() == {"queued": 2, "running": 2, "failed": 1, "completed": 1}
    assert store.count_jobs("app.Other") == {"queued": 1, "failed": 1}
    assert store.count_jobs("app.None") == {}


def test_queued_job_classes(store: Store) -> None:
    assert store.queued_job_classes() == []
    _mixed(store)
    store.insert_jobs([job_doc(job_class="app.Other")])
    assert store.queued_job_classes() == ["app.Other", CLASS]


# -- claiming ------------------------------------------------------------------------------
def test_claim_order_is_priority_then_id(store: Store) -> None:
    docs = [job_doc(priority=p) for p in (50, 10, 50, 1, 10, 100)]
    store.insert_jobs(docs)
    now = utcnow()
    workers = [f"host:9:t{i}" for i in range(4)]
    claimed = store.claim_jobs(workers, [CLASS], now)
    expected = [docs[3], docs[1], docs[4], docs[0]]
    assert [doc["id"] for doc in claimed] == [doc["id"] for doc in expected]
    for i, doc in enumerate(claimed):
        assert doc["state"] == "running"
        assert doc["worker_name"] == workers[i]
        assert doc["server_name"] == "host:9"
        assert doc["started_at"] == now
        assert store.get_job(doc["id"]) == doc
    rest = store.claim_jobs(workers, [CLASS], now)
    assert [doc["id"] for doc in rest] == [docs[2]["id"], docs[5]["id"]]
    assert store.claim_jobs(workers, [CLASS], now) == []


def test_claim_skips_jobs_scheduled_in_the_future(store: Store) -> None:
    now = utcnow()
    due = job_doc(run_at=now - dt.timedelta(seconds=1))
    exact = job_doc(run_at=now)
    later = job_doc(run_at=now + dt.timedelta(microseconds=1), priority=1)
    store.insert_jobs([later, due, exact])
    claimed = store.claim_jobs(["h:1:a", "h:1:b", "h:1:c"], [CLASS], now)
    assert sorted(doc["id"] for doc in claimed) == sorted([due["id"], exact["id"]])
    assert store.get_job(later["id"])["state"] == "queued"  # type: ignore[index]
    again = store.claim_jobs(["h:1:a"], [CLASS], now + dt.timedelta(seconds=1))
    assert [doc["id"] for doc in again] == [later["id"]]


def test_claim_only_given_job_classes(store: Store) -> None:
    mine, other = job_doc(), job_doc(job_class="app.Other", priority=1)
    store.insert_jobs([mine, other])
    claimed = store.claim_jobs(["h:1:a", "h:1:b"], [CLASS, "app.Missing"], utcnow())
    assert [doc["id"] for doc in claimed] == [mine["id"]]
    assert store.claim_jobs(["h:1:a"], [], utcnow()) == []
    assert store.claim_jobs([], [CLASS, "app.Other"], utcnow()) == []
    assert store.get_job(other["id"])["state"] == "queued"  # type: ignore[index]


def test_claim_takes_only_queued_jobs(store: Store) -> None:
    store.insert_jobs([job_doc(state=s) for s in ("paused", "failed", "running", "aborted")])
    assert store.claim_jobs(["h:1:a"], [CLASS], utcnow()) == []


# -- claiming for threads and event-loop slots at once (claim_kinds) ----------------------
ASYNC_CLASS = "app.AsyncJob"


def test_claim_kinds_claims_each_kind_for_its_own_workers(store: Store) -> None:
    now = utcnow()
    threads = [job_doc(priority=p) for p in (50, 10, 30)]
    coroutines = [job_doc(job_class=ASYNC_CLASS, priority=p) for p in (20, 5, 90, 40)]
    later = job_doc(job_class=ASYNC_CLASS, priority=1, run_at=now + dt.timedelta(seconds=5))
    store.insert_jobs([*threads, *coroutines, later])
    idle, free = ["h:3:t1", "h:3:t2"], ["h:3:a1", "h:3:a2", "h:3:a3"]
    kinds = [ClaimFor(idle, [CLASS]), ClaimFor(free, [ASYNC_CLASS])]
    on_threads, on_slots = store.claim_kinds(kinds, now)
    assert [d["id"] for d in on_threads] == [threads[1]["id"], threads[2]["id"]]
    assert [d["worker_name"] for d in on_threads] == idle
    assert [d["id"] for d in on_slots] == [coroutines[i]["id"] for i in (1, 0, 3)]
    assert [d["worker_name"] for d in on_slots] == free
    for doc in on_threads + on_slots:
        assert doc["state"] == "running" and doc["server_name"] == "h:3"
        assert doc["started_at"] == now and store.get_job(doc["id"]) == doc
    # one kind with nothing to claim for, the other with more places than jobs
    rest = store.claim_kinds([ClaimFor([], [CLASS]), ClaimFor(free, [ASYNC_CLASS])], now)
    assert rest == [[], [store.get_job(coroutines[2]["id"])]]
    assert store.claim_kinds(kinds, now) == [[store.get_job(threads[0]["id"])], []]
    assert store.claim_kinds(kinds, now) == [[], []]
    assert store.get_job(later["id"])["state"] == "queued"  # type: ignore[index]


def test_claim_kinds_respects_limits(store: Store) -> None:
    store.insert_jobs([job_doc(job_class=ASYNC_CLASS) for _ in range(5)] +
                      [job_doc() for _ in range(3)])  # fmt: skip
    limit = [ClaimLimit("class:" + ASYNC_CLASS, frozenset({ASYNC_CLASS}), 2)]
    kinds = [ClaimFor(["h:4:t1", "h:4:t2"], [CLASS]), ClaimFor(["h:4:a1", "h:4:a2", "h:4:a3"],
                                                                [ASYNC_CLASS])]  # fmt: skip
    on_threads, on_slots = store.claim_kinds(kinds, utcnow(), limit)
    assert len(on_threads) == 2 and len(on_slots) == 2
    assert store.claim_kinds(kinds, utcnow(), limit)[1] == []


def test_no_double_claim_of_either_kind_across_threads(store_env: StoreEnv, store: Store) -> None:
    docs = [job_doc(job_class=CLASS if i % 3 else ASYNC_CLASS) for i in range(150)]
    store.insert_jobs(docs)
    stores = [store_env.open() for _ in range(4)]
    start = threading.Barrier(len(stores))

    def claim_all(i: int) -> list[tuple[str, str]]:
        start.wait(timeout=30)
        claimed: list[tuple[str, str]] = []
        kinds = [ClaimFor([f"h:{i}:t0", f"h:{i}:t1"], [CLASS]),
                 ClaimFor([f"h:{i}:a1", f"h:{i}:a2", f"h:{i}:a3"], [ASYNC_CLASS])]  # fmt: skip
        while True:
            got = stores[i].claim_kinds(kinds, utcnow())
            if not any(got):
                return claimed
            claimed += [(d["id"], d["worker_name"]) for kind in got for d in kind]
            assert all(d["job_class"] == CLASS for d in got[0])
            assert all(d["job_class"] == ASYNC_CLASS for d in got[1])

    with ThreadPoolExecutor(len(stores)) as pool:
        results = list(pool.map(claim_all, range(len(stores)), timeout=120))
    for other in stores:
        other.close()
    counts = Counter(job_id for pairs in results for job_id, _ in pairs)
    assert set(counts) == {doc["id"] for doc in docs} and max(counts.values()) == 1
    named = {job_id: worker for pairs in results for job_id, worker in pairs}
    assert all(store.get_job(job_id)["worker_name"] == w for job_id, w in named.items())  # type: ignore[index]


def test_no_double_claim_across_threads(store_env: StoreEnv, store: Store) -> None:
    docs = [job_doc() for _ in range(150)]
    store.insert_jobs(docs)
    stores = [store_env.open() for _ in range(6)]
    start = threading.Barrier(len(stores))

    def claim_all(i: int) -> list[str]:
        start.wait(timeout=30)
        claimed: list[str] = []
        while True:
            got = stores[i].claim_jobs([f"h:{i}:t0", f"h:{i}:t1", f"h:{i}:t2"], [CLASS], utcnow())
            if not got:
                return claimed
            claimed.extend(doc["id"] for doc in got)

    with ThreadPoolExecutor(len(stores)) as pool:
        results = list(pool.map(claim_all, range(len(stores)), timeout=120))
    counts = Counter(job_id for ids in results for job_id in ids)
    assert set(counts) == {doc["id"] for doc in docs}
    assert max(counts.values()) == 1
    assert store.count_jobs() == {"running": 150}


def test_no_double_claim_across_processes(store_env: StoreEnv, store: Store) -> None:
    docs = [job_doc() for _ in range(150)]
    store.insert_jobs(docs)
    start_at = time.time() + 4.0  # time for the children to start and connect
    with spawn_pool(3) as pool:
        futures = [
            pool.submit(claim_until_empty, store_env.url, f"proc:{i}", 4, start_at)
            for i in range(3)
        ]
        results = [future.result(timeout=120) for future in futures]
    counts = Counter(job_id for ids in results for job_id in ids)
    assert set(counts) == {doc["id"] for doc in docs}
    assert max(counts.values()) == 1


# -- finishing and re-queueing -------------------------------------------------------------
def test_finish_jobs_destroys_and_updates_only_when_still_owned(store: Store) -> None:
    docs = [job_doc() for _ in range(5)]
    store.insert_jobs(docs)
    now = utcnow()
    claimed = store.claim_jobs([f"h:1:t{i}" for i in range(5)], [CLASS], now)
    a, b, c, d, e = claimed
    store.update_job(d["id"], {"state": "aborted"})  # aborted meanwhile
    store.requeue_jobs("nobody")  # touches nothing
    done = store.finish_jobs(
        [
            Finish(a["id"], a["worker_name"], destroy=True),
            Finish(b["id"], b["worker_name"], changes={"state": "completed", "completed_at": now,
                                                      "result": {"n": 1}, "percent_complete": 100}),
            Finish(c["id"], "h:1:someone-else", destroy=True),
            Finish(d["id"], d["worker_name"], changes={"state": "completed"}),
            Finish(e["id"], e["worker_name"], changes={"state": "failed", "failure_count": 1}),
            Finish(new_id(), "h:1:t9", destroy=True),
        ]
    )  # fmt: skip
    assert sorted(done) == sorted([a["id"], b["id"], e["id"]])
    assert store.get_job(a["id"]) is None
    got_b = store.get_job(b["id"])
    assert got_b is not None
    assert (got_b["state"], got_b["result"], got_b["completed_at"]) == ("completed", {"n": 1}, now)
    assert store.get_job(c["id"])["state"] == "running"  # type: ignore[index]
    assert store.get_job(d["id"])["state"] == "aborted"  # type: ignore[index]
    assert store.get_job(e["id"])["failure_count"] == 1  # type: ignore[index]
    assert store.finish_jobs([]) == []


def test_finish_and_claim_writes_outcomes_and_claims_in_claim_order(store: Store) -> None:
    finish_and_claim = store.finish_and_claim
    now = utcnow()
    store.insert_jobs([job_doc(priority=50) for _ in range(4)])
    a, b, c, d = store.claim_jobs([f"h:1:t{i}" for i in range(4)], [CLASS], now)
    store.update_job(d["id"], {"state": "aborted"})  # aborted meanwhile: not ours any more
    low, high, later = (
        job_doc(priority=60),
        job_doc(priority=5),
        job_doc(run_at=now + dt.timedelta(hours=1)),
    )
    store.insert_jobs([low, high, later, job_doc(job_class="app.Other", priority=1)])
    done, claimed = finish_and_claim(
        [
            Finish(a["id"], a["worker_name"], destroy=True),
            Finish(b["id"], b["worker_name"], changes={"state": "failed", "failure_count": 1}),
            Finish(c["id"], "h:1:someone-else", destroy=True),
            Finish(d["id"], d["worker_name"], destroy=True),
        ],
        ["h:1:t0", "h:1:t1", "h:1:t9"],
        [CLASS],
        now,
    )
    assert sorted(done) == sorted([a["id"], b["id"]])
    assert store.get_job(a["id"]) is None
    assert store.get_job(b["id"])["state"] == "failed"  # type: ignore[index]
    assert store.get_job(c["id"])["state"] == "running"  # type: ignore[index]
    assert store.get_job(d["id"])["state"] == "aborted"  # type: ignore[index]
    assert [(doc["id"], doc["worker_name"]) for doc in claimed] == [
        (high["id"], "h:1:t0"),
        (low["id"], "h:1:t1"),
    ]
    assert all(doc["state"] == "running" and doc["server_name"] == "h:1" for doc in claimed)
    assert store.get_job(high["id"]) == claimed[0]
    only_done, none = finish_and_claim(
        [Finish(high["id"], "h:1:t0", destroy=True)], [], [CLASS], now
    )
    assert (only_done, none) == ([high["id"]], [])
    assert finish_and_claim([], ["h:1:t5"], [CLASS], now) == ([], [])


def test_finish_after_requeue_is_refused(store: Store) -> None:
    store.insert_jobs([job_doc()])
    (job,) = store.claim_jobs(["h:1:t0"], [CLASS], utcnow())
    assert store.requeue_jobs("h:1") == 1
    assert store.finish_jobs([Finish(job["id"], "h:1:t0", destroy=True)]) == []
    assert store.get_job(job["id"])["state"] == "queued"  # type: ignore[index]


def test_requeue_jobs_of_one_server(store: Store) -> None:
    store.insert_jobs([job_doc() for _ in range(5)])
    mine = store.claim_jobs(["h:1:t0", "h:1:t1", "h:1:t2"], [CLASS], utcnow())
    theirs = store.claim_jobs(["h:2:t0"], [CLASS], utcnow())
    assert store.requeue_jobs("h:1") == 3
    for doc in mine:
        got = store.get_job(doc["id"])
        assert got is not None
        assert (got["state"], got["worker_name"], got["server_name"], got["started_at"]) == (
            "queued", None, None, None)  # fmt: skip
    assert store.get_job(theirs[0]["id"])["state"] == "running"  # type: ignore[index]
    assert store.requeue_jobs("h:1") == 0
    assert store.count_jobs() == {"queued": 4, "running": 1}


# -- wake-ups ------------------------------------------------------------------------------
def test_wait_for_jobs_never_blocks_longer_than_timeout(store: Store) -> None:
    for timeout in (0.0, 0.05, 0.3):
        started = time.monotonic()
        store.wait_for_jobs(timeout)
        assert time.monotonic() - started < timeout + 0.2


def test_wait_for_jobs_does_not_spin_when_idle(store: Store) -> None:
    store.wait_for_jobs(0.05)  # settle: a first wait may return early
    calls, deadline = 0, time.monotonic() + 0.8
    while time.monotonic() < deadline:
        store.wait_for_jobs(0.2)
        calls += 1
    assert calls <= 12, f"{calls} returns in 0.8 s with nothing queued"


def _wake_latency(waiter: Store, insert: object) -> float:
    """Seconds from ``insert()`` (run in a thread once the waiter is waiting) until a
    wait on ``waiter`` returns."""
    waiter.wait_for_jobs(0.05)  # settle
    inserted_at: list[float] = []

    def later() -> None:
        # the behaviour under test: an insert arriving while the waiter waits (it is then
        # inside wait_for_jobs(10); had it not begun, the wait would return at once and
        # the latency measured would only be smaller)
        time.sleep(0.2)
        inserted_at.append(time.monotonic())
        insert()  # type: ignore[operator]

    thread = threading.Thread(target=later)
    thread.start()
    started = time.monotonic()
    while time.monotonic() - started < 10 and not inserted_at:
        waiter.wait_for_jobs(10)
    woke = time.monotonic()
    thread.join(timeout=30)
    assert inserted_at, "the waiter never saw the insert"
    return woke - inserted_at[0]


def test_wait_for_jobs_wakes_on_insert_by_another_connection(
    store_env: StoreEnv, store: Store
) -> None:
    other = store_env.open()
    latency = _wake_latency(store, lambda: other.insert_jobs([job_doc()]))
    assert latency < 1.0


def test_wait_for_jobs_wakes_on_insert_by_another_process(
    store_env: StoreEnv, store: Store
) -> None:
    with spawn_pool(1) as pool:
        pool.submit(str, "warm up").result(timeout=60)

        def insert() -> None:
            pool.submit(insert_one, store_env.url, new_id()).result(timeout=60)

        store.wait_for_jobs(0.05)
        started = time.monotonic()
        thread = threading.Thread(target=insert)
        thread.start()
        while store.count_jobs() == {} and time.monotonic() - started < 30:
            store.wait_for_jobs(10)
        thread.join(timeout=60)
    assert store.count_jobs() == {"queued": 1}
    assert time.monotonic() - started < 30


def test_wait_for_jobs_wakes_on_requeue(store_env: StoreEnv, store: Store) -> None:
    other = store_env.open()
    other.insert_jobs([job_doc()])
    other.claim_jobs(["h:1:t0"], [CLASS], utcnow())
    assert _wake_latency(store, lambda: other.requeue_jobs("h:1")) < 1.0


def test_wait_for_jobs_wakes_on_retry_to_queued(store_env: StoreEnv, store: Store) -> None:
    other = store_env.open()
    doc = job_doc(state="failed")
    other.insert_jobs([doc])
    retry = lambda: other.update_job(doc["id"], {"state": "queued"}, from_states=["failed"])  # noqa: E731
    assert _wake_latency(store, retry) < 1.0


# -- servers -------------------------------------------------------------------------------
def test_register_list_and_remove_servers(store: Store) -> None:
    b, a = server_doc("hostb:2"), server_doc("hosta:1")
    store.register_server(b)
    store.register_server(a)
    assert store.list_servers() == [a, b]
    replaced = server_doc("hosta:1", state="paused", busy=3)
    store.register_server(replaced)
    assert store.list_servers() == [replaced, b]
    store.remove_server("hosta:1")
    store.remove_server("nobody:0")
    assert store.list_servers() == [b]


def test_heartbeat_returns_and_clears_commands(store: Store) -> None:
    store.register_server(server_doc("h:1"))
    assert store.send_command("h:1", "pause") is True
    assert store.send_command("h:1", "thread_dump") is True
    assert store.send_command("nobody:0", "stop") is False
    beat = utcnow() + dt.timedelta(microseconds=7)
    info = {"cpu_percent": 12.5, "memory_rss": 2048, "job_classes": [CLASS]}
    doc = store.heartbeat_server("h:1", {"heartbeat_at": beat, "busy": 2, "info": info})
    assert doc is not None
    assert doc["commands"] == ["pause", "thread_dump"]
    assert (doc["heartbeat_at"], doc["busy"], doc["info"]) == (beat, 2, info)
    again = store.heartbeat_server("h:1", {"heartbeat_at": beat})
    assert again is not None and again["commands"] == []
    (listed,) = store.list_servers()
    assert listed["commands"] == [] and listed["busy"] == 2 and listed["heartbeat_at"] == beat
    assert store.heartbeat_server("nobody:0", {"heartbeat_at": beat}) is None


def test_reap_zombie_servers_hands_their_running_jobs_to_the_heir(store: Store) -> None:
    now = utcnow()
    old = now - dt.timedelta(minutes=5)
    for name, beat in (("dead:1", old), ("dead:2", old), ("live:3", now)):
        store.register_server(server_doc(name, heartbeat_at=beat))
    store.insert_jobs([job_doc() for _ in range(5)])
    store.claim_jobs(["dead:1:t0", "dead:1:t1"], [CLASS], now)
    store.claim_jobs(["live:3:t0"], [CLASS], now)
    store.claim_jobs(["dead:2:t0"], [CLASS], now)
    assert store.reap_zombie_servers(now - dt.timedelta(minutes=1), "live:3") == [
        "dead:1",
        "dead:2",
    ]
    assert [server["name"] for server in store.list_servers()] == ["live:3"]
    assert store.count_jobs() == {"queued": 1, "running": 4}  # the heir re-queues them
    owners = {
        doc["worker_name"]: (doc["server_name"], doc["state"])
        for doc in store.find_jobs(JobQuery(states=["running"]))
    }
    assert owners == {
        "dead:1:t0": ("live:3", "running"),  # the worker is kept: its requeue compares it
        "dead:1:t1": ("live:3", "running"),
        "dead:2:t0": ("live:3", "running"),
        "live:3:t0": ("live:3", "running"),
    }
    assert store.reap_zombie_servers(now - dt.timedelta(minutes=1), "live:3") == []


def test_claim_and_requeue_write_the_transition_tables_fields(store: Store) -> None:
    """The claim writes rocketjob.state.start_changes and nothing else; requeue_jobs
    writes rocketjob.state.requeue_changes (the stores render their statements from
    them)."""
    from rocketjob import state

    now = utcnow()
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # MongoDB keeps ms
    queued = job_doc()
    store.insert_jobs([queued])
    before = store.get_job(queued["id"])
    assert before is not None
    (claimed,) = store.claim_jobs(["h:1:t0"], [CLASS], now)
    changed = {name for name in claimed if claimed[name] != before[name]}
    start = state.start_changes(now, "h:1", "h:1:t0")
    assert changed == set(start)
    assert {name: claimed[name] for name in start} == start
    assert store.requeue_jobs("h:1") == 1
    requeued = store.get_job(queued["id"])
    assert requeued is not None
    assert {name: requeued[name] for name in state.requeue_changes()} == state.requeue_changes()
    assert requeued == before


def test_reap_zombie_servers_once_each_under_concurrency(store_env: StoreEnv, store: Store) -> None:
    now = utcnow()
    zombies = [f"dead:{i}" for i in range(12)]
    for name in zombies:
        store.register_server(server_doc(name, heartbeat_at=now - dt.timedelta(minutes=5)))
    store.register_server(server_doc("live:99"))
    store.insert_jobs([job_doc() for _ in range(24)])
    for name in zombies:
        assert len(store.claim_jobs([f"{name}:t0", f"{name}:t1"], [CLASS], now)) == 2
    cutoff = now - dt.timedelta(minutes=1)
    start_at = time.time() + 4.0
    stores = [store_env.open() for _ in range(3)]
    with spawn_pool(2) as procs, ThreadPoolExecutor(3) as threads:
        futures = [
            procs.submit(reap, store_env.url, cutoff, start_at, f"heir:{i}") for i in range(2)
        ]

        def in_thread(s: Store, heir: str) -> list[str]:
            wait_until(lambda: time.time() >= start_at, timeout=60, interval=0.001)
            return s.reap_zombie_servers(cutoff, heir)

        futures += [threads.submit(in_thread, s, f"heir:{i}") for i, s in enumerate(stores, 2)]
        results = [future.result(timeout=120) for future in futures]
    counts = Counter(name for names in results for name in names)
    assert sorted(counts) == sorted(zombies)
    assert max(counts.values()) == 1
    heir_of = {name: f"heir:{i}" for i, names in enumerate(results) for name in names}
    running = store.find_jobs(JobQuery(states=["running"], limit=None))
    assert len(running) == 24  # every job taken over by the one heir that reaped its server
    assert all(doc["server_name"] == heir_of[server_of(doc["worker_name"])] for doc in running)
    assert [server["name"] for server in store.list_servers()] == ["live:99"]
