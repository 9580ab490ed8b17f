"""Crash accounting on a real store (issue 16 item 2): of a dead worker's jobs, only those
its run board shows *running* are counted; jobs claimed ahead are re-queued without a
count; at ``max_crashes`` a job is failed with WorkerCrashed through its lifecycle."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator

import pytest

import rocketjob
from rocketjob import Job
from rocketjob.runboard import RunBoard
from rocketjob.supervisor.crashes import DeadWorker, release
from rocketjob.supervisor.release import release_jobs
from tests.faults.jobs import QuickJob
from tests.store.conftest import _drop, make_env, require_service

EVENTS: list[tuple[str, str]] = []


class CountedJob(QuickJob):
    """Records its fail and requeue callbacks."""

    def after_fail(self) -> None:
        EVENTS.append(("after_fail", self.id or ""))

    def after_requeue(self) -> None:
        EVENTS.append(("after_requeue", self.id or ""))


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[str]:
    require_service(request.param)
    env, name = make_env(request.param, tmp_path)
    rocketjob.connect(env.url)
    EVENTS.clear()
    try:
        yield env.url
    finally:
        rocketjob.disconnect()
        _drop(request.param, name)


def claim(server: str, count: int) -> list[str]:
    store = rocketjob.current_store()
    names = [f"{server}:{n}" for n in range(1, count + 1)]
    docs = store.claim_jobs(names, [CountedJob._job_class_path],
                            dt.datetime.now(dt.UTC))  # fmt: skip
    return [doc["id"] for doc in docs]


def test_only_running_jobs_are_counted(store_url: str) -> None:
    jobs = CountedJob.perform_all_later([("x", f"t{i}") for i in range(3)])
    running, ahead, ahead_too = claim("host:9", 3)
    board = RunBoard(3)
    board.start(0, running, 1.0, None)  # thread 1 started it; the others were claimed ahead
    dead = DeadWorker("host:9", "SIGKILL", crashed=True, running=board.running())
    assert release_jobs(store_url, "host:9", dead, max_crashes=3) == 3
    counts = {job.id: Job.find(job.id) for job in jobs}
    assert counts[running].crash_count == 1 and counts[running].state == "queued"
    assert counts[running].run_at is not None, "a crashed job runs again after a short delay"
    assert counts[ahead].crash_count == 0 and counts[ahead_too].crash_count == 0
    assert all(job.state == "queued" for job in counts.values())
    assert ("after_requeue", running) in EVENTS


def test_at_max_crashes_the_job_fails_with_worker_crashed(store_url: str) -> None:
    (job,) = CountedJob.perform_all_later([("x", "poison")])
    store = rocketjob.current_store()
    store.update_job(job.id or "", {"crash_count": 2})
    (claimed,) = claim("host:7", 1)
    board = RunBoard(1)
    board.start(0, claimed, 1.0, None)
    dead = DeadWorker("host:7", "exit 17", crashed=True, running=board.running())
    out = release(store, dead, max_crashes=3)
    assert out.quarantined == [job.id]
    failed = Job.find(job.id)
    assert failed.state == "failed" and failed.crash_count == 3 and failed.failure_count == 1
    assert failed.exception is not None
    assert failed.exception.class_name == "rocketjob.WorkerCrashed"
    assert "exit 17" in failed.exception.message and "host:7" in failed.exception.message
    assert ("after_fail", job.id) in EVENTS


def test_a_worker_stopped_on_purpose_counts_nothing(store_url: str) -> None:
    jobs = CountedJob.perform_all_later([("x", "a"), ("x", "b")])
    first, _ = claim("host:5", 2)
    board = RunBoard(2)
    board.start(0, first, 1.0, None)
    dead = DeadWorker("host:5", "SIGKILL", crashed=False, running=board.running())
    release_jobs(store_url, "host:5", dead, max_crashes=1)
    assert [Job.find(job.id).crash_count for job in jobs] == [0, 0]
    assert [Job.find(job.id).state for job in jobs] == ["queued", "queued"]


def test_a_job_killed_for_its_time_limit_fails_with_job_timeout(store_url: str) -> None:
    jobs = CountedJob.set(timeout=2).perform_all_later([("x", "hang"), ("x", "other")])
    hang, other = claim("host:3", 2)
    board = RunBoard(2)
    board.start(0, hang, 1.0, 13.0)
    board.start(1, other, 1.0, None)
    assert [r.job_id for r in board.overdue(20.0)] == [hang]
    dead = DeadWorker("host:3", "SIGKILL", crashed=False, running=board.running(),
                      timed_out={hang})  # fmt: skip
    release_jobs(store_url, "host:3", dead, max_crashes=3)
    failed, requeued = Job.find(jobs[0].id), Job.find(jobs[1].id)
    assert failed.state == "failed" and failed.exception is not None
    assert failed.exception.class_name == "rocketjob.JobTimeout"
    assert "ran past its timeout (2 s)" in failed.exception.message
    assert requeued.state == "queued" and requeued.crash_count == 0
