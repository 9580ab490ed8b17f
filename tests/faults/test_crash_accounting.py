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


def test_a_slice_that_kills_its_worker_is_counted_then_failed_at_its_record(
    store_url: str,
) -> None:
    from rocketjob.store.slices import slice_store
    from tests.batch.jobs import PoisonBatchJob

    job = PoisonBatchJob.upload(range(10))  # two slices of five records
    store = rocketjob.current_store()
    store.update_job(job.id or "", {"state": "running"})  # opened: running, no worker
    slices, now = slice_store(store), dt.datetime.now(dt.UTC)
    classes = [PoisonBatchJob._job_class_path]
    slices.claim_slices(["host:9:1", "host:9:2"], classes, now, {})
    board = RunBoard(2)
    board.start(0, job.id or "", 1.0, None, number=1)  # thread 1 ran slice 1, at record 4
    board.records()[board.record_position(0)] = 3
    dead = DeadWorker("host:9", "exit 17", crashed=True, running=board.running())
    release_jobs(store_url, "host:9", dead, max_crashes=2)
    first, second = slices.read_slices(job.id or "", 0, 2)
    assert (first["state"], first["crash_count"]) == ("queued", 1)
    assert (second["state"], second["crash_count"]) == ("queued", 0), "claimed ahead: no blame"
    [again] = slices.claim_slices(["host:8:2"], classes, now, {})  # the suspect, alone
    assert again["number"] == 1
    [other] = slices.claim_slices(["host:8:1"], classes, now, {})
    assert slices.finish_slice(job.id or "", other["number"], "host:8:1", {"state": "completed"})
    board = RunBoard(2)
    board.start(1, job.id or "", 1.0, None, number=1)
    board.records()[board.record_position(1)] = 3
    dead = DeadWorker("host:8", "SIGKILL", crashed=True, running=board.running())
    release_jobs(store_url, "host:8", dead, max_crashes=2)
    [(number, record, exc)] = PoisonBatchJob.find(job.id or "").failed_records()
    assert (number, record, exc.class_name) == (4, 3, "rocketjob.WorkerCrashed")
    assert "SIGKILL, server host:8" in exc.message and "2 times" in exc.message
    assert "record 4 was running" in exc.message
    ended = Job.find(job.id or "")  # its last slice failed: the supervisor ended the job
    assert ended.state == "failed" and ended.exception is not None
    assert ended.exception.class_name == "rocketjob.batch.job.BatchFailed"
