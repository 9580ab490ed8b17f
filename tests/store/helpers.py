"""Helpers of the store contract suite: documents, and functions run in other processes
(importable by name, so ``spawn`` children can run them)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

from rocketjob.ids import new_id
from rocketjob.store import JobDoc, ServerDoc, Store, open_store
from tests.support import wait_until

CLASS = "app.jobs.ImportJob"


def utcnow() -> dt.datetime:
    """Now, aware UTC."""
    return dt.datetime.now(dt.UTC)


def job_doc(**values: Any) -> JobDoc:
    """A queued job document with every field; ``values`` override."""
    doc: JobDoc = {
        "id": new_id(),
        "job_class": CLASS,
        "state": "queued",
        "priority": 50,
        "description": None,
        "arguments": {"args": [], "kwargs": {}},
        "run_at": None,
        "expires_at": None,
        "destroy_on_complete": True,
        "collect_output": False,
        "result": None,
        "created_at": utcnow(),
        "started_at": None,
        "completed_at": None,
        "failure_count": 0,
        "crash_count": 0,
        "worker_name": None,
        "server_name": None,
        "percent_complete": 0,
        "exception": None,
        "log_level": None,
        "fields": {},
        "singleton_key": None,
        "attempts": None,
        "trace_context": None,
    }
    doc.update(values)
    return doc


def server_doc(name: str, heartbeat_at: dt.datetime | None = None, **values: Any) -> ServerDoc:
    """A running server document named ``name`` (``host:pid``)."""
    host, pid = name.rsplit(":", 1)
    now = utcnow()
    doc: ServerDoc = {
        "name": name,
        "host": host,
        "pid": int(pid),
        "state": "running",
        "started_at": now,
        "heartbeat_at": heartbeat_at or now,
        "threads": 4,
        "busy": 0,
        "info": {"cpu_percent": 1.5, "memory_rss": 1024},
        "commands": [],
    }
    doc.update(values)
    return doc


def claim_until_empty(url: str, server: str, batch: int, start_at: float) -> list[str]:
    """In another process: open the store, wait for the common start, claim ``batch``
    jobs at a time until none is left; the ids claimed."""
    store = open_store(url)
    try:
        wait_until(lambda: time.time() >= start_at, timeout=60, interval=0.001)  # common start
        claimed: list[str] = []
        empty_rounds = 0
        while empty_rounds < 3:
            workers = [f"{server}:t{i}" for i in range(batch)]
            docs = store.claim_jobs(workers, [CLASS], utcnow())
            claimed.extend(doc["id"] for doc in docs)
            empty_rounds = 0 if docs else empty_rounds + 1
        return claimed
    finally:
        store.close()


def reap(url: str, cutoff: dt.datetime, start_at: float, heir: str) -> list[str]:
    """In another process: reap zombie servers for ``heir`` at the common start; the
    names reaped."""
    store = open_store(url)
    try:
        wait_until(lambda: time.time() >= start_at, timeout=60, interval=0.001)  # common start
        return store.reap_zombie_servers(cutoff, heir)
    finally:
        store.close()


def insert_one(url: str, job_id: str) -> None:
    """In another process: insert one queued job."""
    store = open_store(url)
    try:
        store.insert_jobs([job_doc(id=job_id)])
    finally:
        store.close()


def claim_limited(url: str, server: str, limit: int, start_at: float) -> list[str]:
    """In another process: at the common start, claim with a class limit until nothing
    more is given; the ids claimed."""
    from rocketjob.store import ClaimLimit

    store = open_store(url)
    try:
        wait_until(lambda: time.time() >= start_at, timeout=60, interval=0.001)  # common start
        limits = [ClaimLimit("class:" + CLASS, frozenset({CLASS}), limit)]
        claimed: list[str] = []
        for _ in range(5):
            workers = [f"{server}:t{i}" for i in range(4)]
            claimed += [doc["id"] for doc in store.claim_jobs(workers, [CLASS], utcnow(), limits)]
        return claimed
    finally:
        store.close()


def enqueue_concurrently(store: Store, threads: int, per_thread: int) -> list[str]:
    """``threads`` threads, started together, each enqueue ``per_thread`` jobs one at a
    time (a threaded web server's pattern); the ids of every job, each stored once."""
    ids: list[list[str]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads)

    def enqueue(n: int) -> None:
        start.wait()
        for _ in range(per_thread):
            doc = job_doc()
            store.insert_jobs([doc])
            ids[n].append(doc["id"])

    workers = [threading.Thread(target=enqueue, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return [job_id for chunk in ids for job_id in chunk]
