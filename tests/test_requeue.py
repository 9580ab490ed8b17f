"""The runtime's requeue of a server's running jobs goes through the lifecycle
(``rocketjob.requeue``), on a real SQLite store: callbacks run, a compare-and-set per
job, unknown classes and callback errors never leave a job running; a reaped zombie's
jobs likewise, re-queued by the server that reaped it."""

from __future__ import annotations

import datetime as dt

import pytest

import rocketjob
from rocketjob import Job, JobState
from rocketjob.lifecycle import Lifecycle
from rocketjob.requeue import requeue_adopted, requeue_server_jobs
from rocketjob.store import Finish, Store

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


def _register(store: Store, name: str, minutes_ago: int = 0) -> None:
    """A server document whose heartbeat is ``minutes_ago`` old (10: a host that died)."""
    beat = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)
    store.register_server({
        "name": name, "host": name.split(":")[0], "pid": 1, "state": "running",
        "started_at": beat, "heartbeat_at": beat, "threads": 2, "busy": 2,
        "info": {}, "commands": [],
    })  # fmt: skip


def test_a_reaped_zombies_jobs_are_requeued_through_the_lifecycle_by_the_heir() -> None:
    store = rocketjob.current_store()
    _register(store, "dead:1", minutes_ago=10)
    _register(store, "live:2")
    stranded = [MarkedJob.perform_later() for _ in range(2)]
    unknown = _unknown_class_job()
    assert len(_claim_all("dead:1", 3)) == 3
    own = MarkedJob.perform_later()
    assert _claim_all("live:2", 1) == [own.id]
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    assert store.reap_zombie_servers(cutoff, "live:2") == ["dead:1"]
    assert requeue_adopted(store, "live:2") == 3
    assert sorted(CALLS) == sorted(
        [("before_requeue", job.id, JobState.RUNNING) for job in stranded]
        + [("after_requeue", job.id, JobState.QUEUED) for job in stranded]
    )
    assert all(job.reload().queued and job.worker_name is None for job in stranded)
    assert Job.find(unknown).queued  # its class is unknown here: re-queued, no callbacks
    assert own.reload().running and own.worker_name == "live:2:1"  # the heir's own job
    assert requeue_adopted(store, "live:2") == 0


def test_a_zombies_job_that_finished_meanwhile_is_left_alone() -> None:
    """Each requeue compares and sets on the worker that held the job: a server that
    came back and wrote its job's outcome keeps it (no second run)."""
    store = rocketjob.current_store()
    _register(store, "dead:1", minutes_ago=10)
    job = MarkedJob.set(destroy_on_complete=False).perform_later()
    assert _claim_all("dead:1", 1) == [job.id]
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    assert store.reap_zombie_servers(cutoff, "live:2") == ["dead:1"]
    finish = Finish(job.id or "", "dead:1:1", changes={"state": "completed"})
    assert store.finish_jobs([finish]) == [job.id]  # the dead host's late outcome
    assert requeue_adopted(store, "live:2") == 0
    assert job.reload().completed and CALLS == []
