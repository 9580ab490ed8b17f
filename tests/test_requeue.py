"""The runtime's requeue of a server's running jobs goes through the lifecycle
(``rocketjob.requeue``), on a real SQLite store: callbacks run, a compare-and-set per
job, unknown classes and callback errors never leave a job running."""

from __future__ import annotations

import datetime as dt

import pytest

import rocketjob
from rocketjob import Job, JobState
from rocketjob.lifecycle import Lifecycle
from rocketjob.requeue import requeue_server_jobs

CALLS: list[tuple[str, str | None, JobState]] = []


class MarkedJob(Job):
    def perform(self) -> None:
        return None

    def before_requeue(self) -> None:
        CALLS.append(("before_requeue", self.id, self.state))

    def after_requeue(self) -> None:
        CALLS.append(("after_requeue", self.id, self.state))


class BrokenCallbackJob(Job):
    def perform(self) -> None:
        return None

    def before_requeue(self) -> None:
        raise RuntimeError("before_requeue is broken")


def _claim_all(server: str, count: int) -> list[str]:
    store = rocketjob.current_store()
    names = [f"{server}:{i}" for i in range(1, count + 1)]
    classes = [MarkedJob._job_class_path, BrokenCallbackJob._job_class_path, "gone.Job"]
    docs = store.claim_jobs(names, classes, dt.datetime.now(dt.UTC))
    return [doc["id"] for doc in docs]


def _unknown_class_job() -> str:
    job = MarkedJob.perform_later()
    rocketjob.current_store().update_job(job.id or "", {"job_class": "gone.Job"})
    return job.id or ""


@pytest.fixture(autouse=True)
def _clean(sqlite_url: str) -> None:
    CALLS.clear()


def test_requeue_fires_the_callbacks_of_every_running_job() -> None:
    jobs = [MarkedJob.perform_later() for _ in range(2)]
    other = MarkedJob.perform_later()
    assert len(_claim_all("h:1", 2)) == 2
    _claim_all("h:2", 1)
    assert requeue_server_jobs(rocketjob.current_store(), "h:1") == 2
    assert sorted(CALLS) == sorted(
        [("before_requeue", job.id, JobState.RUNNING) for job in jobs]
        + [("after_requeue", job.id, JobState.QUEUED) for job in jobs]
    )
    assert [job.reload().state for job in jobs] == [JobState.QUEUED, JobState.QUEUED]
    assert jobs[0].worker_name is None and jobs[0].started_at is None
    assert other.reload().running  # another server's job is left alone


def test_unknown_classes_and_broken_callbacks_are_requeued_too() -> None:
    errors: list[tuple[str, str]] = []

    def on_error(job: Lifecycle, name: str, exc: Exception) -> None:
        errors.append((name, str(exc)))

    unknown = _unknown_class_job()
    broken = BrokenCallbackJob.perform_later()
    assert len(_claim_all("h:1", 2)) == 2
    assert requeue_server_jobs(rocketjob.current_store(), "h:1", on_error) == 2
    assert errors == [("before_requeue", "before_requeue is broken")]
    assert broken.reload().queued
    assert Job.find(unknown).queued
    assert CALLS == []


def test_a_job_no_longer_running_there_is_not_requeued() -> None:
    job = MarkedJob.perform_later()
    _claim_all("h:1", 1)
    stale = MarkedJob.find(job.id or "")
    job.reload().abort()
    assert not stale.requeue_released(rocketjob.current_store(), lambda *a: None)
    assert job.reload().aborted and [("before_requeue", job.id, JobState.RUNNING)] == CALLS
