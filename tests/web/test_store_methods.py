"""The optional Mission Control store methods on every store (SQLite, PostgreSQL,
MongoDB: a fresh file, schema or database per test, as in the store contract suite), the
fallback for stores without them, and the counts cache."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from typing import Any

import pytest

import rocketjob
from rocketjob.store import JobQuery, Store
from rocketjob.store.base import MissionControlStore
from rocketjob.web.counts import CountsCache
from rocketjob.web.data import VIEWS, MissionControlData
from tests.store.conftest import _drop, make_env, require_service
from tests.web.test_pages import failed_job
from tests.web.webjobs import BrokenJob, ReportJob

NOW = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgres", "mongodb"])
def store_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[str]:
    """A fresh store of each kind, connected for this process (overrides the web tests'
    SQLite-only fixture; a missing server skips, or fails when CI=true)."""
    kind = request.param
    require_service(kind)
    env, name = make_env(kind, tmp_path)
    rocketjob.connect(env.url)
    try:
        yield env.url
    finally:
        rocketjob.disconnect()
        _drop(kind, name)


def mc_store() -> Any:
    store = rocketjob.current_store()
    assert isinstance(store, MissionControlStore)
    return store


def test_audit_log_keyset_pages(store_url: str) -> None:
    store = mc_store()
    ids = [store.add_audit({"at": NOW, "user": "u", "action": f"a{i}", "target": "t",
                            "outcome": "ok", "detail": ""}) for i in range(5)]  # fmt: skip
    first = store.list_audit(2)
    assert [e["action"] for e in first] == ["a4", "a3"] and first[0]["id"] == ids[4]
    assert first[0]["at"] == NOW and first[0]["user"] == "u"
    assert [e["action"] for e in store.list_audit(10, after=first[-1]["id"])] == ["a2", "a1", "a0"]


def test_scan_jobs_bounded_window_and_resume_cursor(store_url: str) -> None:
    store = mc_store()
    jobs = ReportJob.perform_all_later([(f"file-{i}",) for i in range(30)])
    hits = {jobs[3].id, jobs[17].id, jobs[28].id}
    for job in jobs:
        if job.id in hits:
            store.update_job(job.id, {"description": "Needle here"})
    query = JobQuery(["queued"], descending=True, limit=10)
    found, after = store.scan_jobs(query, text="needle", scan_limit=10)
    assert [d["id"] for d in found] == [jobs[28].id] and after == jobs[20].id
    found, after = store.scan_jobs(
        JobQuery(["queued"], descending=True, limit=10, after=after), text="NEEDLE", scan_limit=10
    )
    assert [d["id"] for d in found] == [jobs[17].id] and after == jobs[10].id
    found, after = store.scan_jobs(
        JobQuery(["queued"], descending=True, limit=10, after=after), text="needle", scan_limit=100
    )
    assert [d["id"] for d in found] == [jobs[3].id] and after is None
    found, after = store.scan_jobs(JobQuery(["queued"], limit=1), text="needle")
    assert [d["id"] for d in found] == [jobs[3].id] and after == jobs[3].id


def test_scan_jobs_scheduled_split(store_url: str) -> None:
    store = mc_store()
    now = dt.datetime.now(dt.UTC)
    later = ReportJob.set(run_at=now + dt.timedelta(hours=1)).perform_later("later")
    due = ReportJob.set(run_at=now - dt.timedelta(hours=1)).perform_later("due")
    plain = ReportJob.perform_later("plain")
    scheduled, _ = store.scan_jobs(JobQuery(["queued"]), scheduled=True, now=now)
    ready, _ = store.scan_jobs(JobQuery(["queued"]), scheduled=False, now=now)
    assert [d["id"] for d in scheduled] == [later.id]
    assert [d["id"] for d in ready] == [due.id, plain.id]


def test_counts_by_class_and_finished_figures(store_url: str) -> None:
    store = mc_store()
    ReportJob.perform_all_later([("a",), ("b",)])
    failed_job()
    assert store.count_jobs_by_class() == {
        "tests.web.webjobs.ReportJob": {"queued": 2},
        "tests.web.webjobs.BrokenJob": {"failed": 1},
    }
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    rows = store.finished_per_minute(since)
    assert [(state, n) for _, state, n in rows] == [("failed", 1)]
    assert rows[0][0].second == 0 and rows[0][0] >= since - dt.timedelta(minutes=1)
    assert store.recent_timings(since) == []  # never started: no run time
    start = dt.datetime.now(dt.UTC)
    [claimed] = store.claim_jobs(["h:1:1"], ["tests.web.webjobs.ReportJob"], start)
    finished = {"state": "completed", "completed_at": start + dt.timedelta(seconds=3)}
    store.update_job(claimed["id"], finished)
    [(run, wait)] = store.recent_timings(since)
    assert run == 3.0 and 0 <= wait < 60


class PlainStore:
    """Only the Store contract: hides the Mission Control methods of a real store."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.url = inner.url

    def __getattr__(self, name: str) -> Any:
        if name in ("prepare_mission_control", "add_audit", "list_audit", "scan_jobs",
                    "count_jobs_by_class", "finished_per_minute", "recent_timings"):  # fmt: skip
            raise AttributeError(name)
        return getattr(self._inner, name)


def test_fallback_for_stores_without_mission_control_methods(store_url: str) -> None:
    plain = PlainStore(rocketjob.current_store())
    assert not isinstance(plain, MissionControlStore)
    data = MissionControlData(plain, counts_ttl=5, zombie_seconds=60,  # type: ignore[arg-type]
                              now=lambda: dt.datetime.now(dt.UTC))  # fmt: skip
    keep = BrokenJob.perform_later("needle")
    ReportJob.perform_later("hay")
    page = data.list_jobs(VIEWS["all"], text="NEEDLE")
    assert [d["id"] for d in page.jobs] == [keep.id] and page.scanned
    data.audit("u", "retry", "job x")
    assert data.audit_entries()[0]["action"] == "retry"
    assert data.snapshot().by_state == {"queued": 2}
    data.close()


def test_counts_cache_serves_stale_figures_and_refreshes_in_background(store_url: str) -> None:
    opened: list[Any] = []

    def open_store() -> Any:
        from rocketjob.store import open_store as real_open

        opened.append(real_open(store_url))
        return opened[-1]

    cache = CountsCache(open_store, ttl=0.0, now=lambda: dt.datetime.now(dt.UTC))
    first = cache.get()
    assert first.by_state == {}
    ReportJob.perform_later("x")
    assert cache.get() is first  # stale, returned at once; a refresh started
    from tests.support import wait_until

    wait_until(lambda: cache.get().by_state == {"queued": 1}, timeout=5)
    assert len(opened) == 1  # its own connection, opened once
    cache.close()


def test_text_search_takes_wildcards_literally(store_url: str) -> None:
    """``%``, ``_`` and ``\\`` in the searched text match themselves, never anything."""
    store = mc_store()
    literal = ReportJob.set(description="50% done_now \\ ok").perform_later("x")
    ReportJob.set(description="500 doneXnow").perform_later("y")
    for text in ("50%", "done_now", "\\ ok", "DONE_NOW"):
        found, _ = store.scan_jobs(JobQuery(["queued"], limit=10), text=text)
        assert [doc["id"] for doc in found] == [literal.id], text
    assert store.scan_jobs(JobQuery(["queued"], limit=10), text="%%%")[0] == []


def test_count_scheduled_counts_queued_jobs_for_later_per_class(store_url: str) -> None:
    store = mc_store()
    now = dt.datetime.now(dt.UTC)
    ReportJob.set(run_at=now + dt.timedelta(hours=1)).perform_all_later([("a",), ("b",)])
    BrokenJob.set(run_at=now + dt.timedelta(minutes=5)).perform_later("c")
    ReportJob.set(run_at=now - dt.timedelta(minutes=5)).perform_later("due")
    ReportJob.perform_later("now")
    ReportJob.set(run_at=now + dt.timedelta(hours=1)).perform_later("held").pause()
    assert store.count_scheduled(now) == {
        "tests.web.webjobs.ReportJob": 2, "tests.web.webjobs.BrokenJob": 1,
    }  # fmt: skip
