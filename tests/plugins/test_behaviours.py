"""Behaviours in one process: a real SQLite store and an in-process worker."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import rocketjob
from rocketjob import DuplicateJob, Job, JobState, ValidationError
from rocketjob.plugins import cron
from tests.conftest import running_worker
from tests.plugins import jobs
from tests.support import wait_until

IMPORTS = ["tests.plugins.jobs"]


def test_retry_until_the_limit_then_stays_failed(sqlite_url: str, tmp_path: Path) -> None:
    path = str(tmp_path / "runs")
    job = jobs.FlakyJob.perform_later(path)
    with running_worker(imports=IMPORTS):
        wait_until(lambda: job.reload().failed and job.failure_count == 3)
    assert job.exception is not None and job.exception.message == "attempt 3 failed"
    assert len(Path(path).read_text().splitlines()) == 3  # first run + 2 retries


def test_retry_succeeds_within_the_limit(sqlite_url: str, tmp_path: Path) -> None:
    job = jobs.FlakyJob.perform_later(str(tmp_path / "runs"), succeed_after=2)
    with running_worker(imports=IMPORTS):
        wait_until(lambda: job.reload().completed)
    assert job.failure_count == 1


def test_default_retry_delay_is_exponential_with_jitter() -> None:
    job = jobs.LonelyJob()
    assert 16 <= job.retry_delay(1) <= 26
    assert 3**4 + 15 <= job.retry_delay(3) <= 3**4 + 15 + 30


def test_after_fail_may_retry_itself(sqlite_url: str) -> None:
    job = jobs.CustomRetryJob.perform_later()
    with running_worker(imports=IMPORTS):
        wait_until(lambda: job.reload().scheduled)
    assert job.failure_count == 1 and job.run_at is not None
    assert job.run_at > dt.datetime.now(dt.UTC) + dt.timedelta(days=300)


def test_singleton_refuses_a_second_active_instance(sqlite_url: str) -> None:
    first = jobs.LonelyJob.perform_later()
    with pytest.raises(DuplicateJob, match="LonelyJob is a singleton job class"):
        jobs.LonelyJob.perform_later()
    assert isinstance(DuplicateJob("x"), ValidationError)
    first.pause()
    with pytest.raises(DuplicateJob):
        jobs.LonelyJob.perform_later()
    first.abort()
    second = jobs.LonelyJob.perform_later()
    with running_worker(imports=IMPORTS):
        wait_until(lambda: second.reload().completed)
    jobs.LonelyJob.perform_later()
    assert jobs.LonelyJob.counts_by_state() == {"aborted": 1, "queued": 1}


def test_cron_job_is_scheduled_and_reschedules_itself(sqlite_url: str) -> None:
    first = jobs.TickJob.create()
    assert first.run_at is not None and first.run_at.second == 0
    with pytest.raises(DuplicateJob, match="TickJob is a cron job class"):
        jobs.TickJob.create()
    assert cron.ensure_scheduled([jobs.TickJob._job_class_path], rocketjob.job.utcnow()) == []
    before = rocketjob.job.utcnow()
    first.run_now()
    with running_worker(imports=IMPORTS):
        wait_until(lambda: first.reload().completed)
        nxt = wait_until(lambda: jobs.TickJob.where("queued"))
        after = rocketjob.job.utcnow()
    # The next instance runs at the first minute boundary after the completion. (Checked
    # against the clock read around the run, not with `scheduled` at assert time: a
    # completion at hh:mm:59.98 schedules hh:mm+1:00, already past a moment later.)
    assert len(nxt) == 1
    run_at = nxt[0].run_at
    assert run_at is not None and (run_at.second, run_at.microsecond) == (0, 0)
    assert before < run_at <= after + dt.timedelta(minutes=1)


def test_cron_aborted_instance_schedules_the_next(sqlite_url: str) -> None:
    first = jobs.TickJob.create(path="/tmp/x")
    first.abort()
    [nxt] = jobs.TickJob.where("queued")
    assert nxt.path == "" and nxt.id != first.id  # path is not copy_on_restart


def test_window_reschedules_outside_instead_of_running(sqlite_url: str) -> None:
    hour = (dt.datetime.now(dt.UTC).hour + 3) % 24
    closed = type("ClosedJob", (Job,), {"processing_window": (f"0 {hour} * * *", 60),
                                        "destroy_on_complete": False,
                                        "perform": lambda self: None})  # fmt: skip
    job = closed.perform_later()
    include = [f"{module}.*" for module in IMPORTS] + [closed._job_class_path]
    with running_worker(imports=IMPORTS, include=include):
        wait_until(lambda: job.reload().scheduled)
    assert job.state == JobState.QUEUED and job.failure_count == 0 and job.started_at is None
    assert job.run_at is not None and job.run_at.hour == hour and job.run_at.minute == 0


def test_bulk_pause_resume_retry_abort(sqlite_url: str) -> None:
    queued = [jobs.UploadJob.perform_later() for _ in range(3)]
    other = jobs.NightJob.perform_later()
    assert jobs.UploadJob.pause_all() == 3
    assert other.reload().queued
    assert jobs.UploadJob.counts_by_state() == {"paused": 3}
    assert jobs.UploadJob.resume_all() == 3
    for job in queued[:2]:
        job.reload().fail(RuntimeError("x"))
    assert jobs.UploadJob.retry_all_failed() == 2
    queued[0].reload().fail(RuntimeError("y"))
    assert jobs.UploadJob.abort_all_failed() == 1
    assert jobs.UploadJob.counts_by_state() == {"queued": 2, "aborted": 1}
