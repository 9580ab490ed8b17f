"""The public job API of DESIGN §2, on a real SQLite file (no worker)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

import rocketjob
from rocketjob import InvalidTransition, Job, JobNotFound, JobState, ValidationError
from tests.jobs import CallbackJob, EchoJob, NoopJob, ProgressJob

pytestmark = pytest.mark.usefixtures("sqlite_url")


def test_perform_later_stores_a_queued_job_with_defaults() -> None:
    job = NoopJob.perform_later("file.csv", rows=3)
    found = Job.find(job.id)
    assert isinstance(found, NoopJob)
    assert found.state == JobState.QUEUED == "queued" and found.queued
    assert found.arguments == {"args": ["file.csv"], "kwargs": {"rows": 3}}
    assert found.job_class == "tests.jobs.NoopJob"
    assert found.priority == 50 and found.destroy_on_complete and not found.collect_output
    assert found.created_at is not None and found.created_at.tzinfo is not None
    assert found.failure_count == 0 and found.percent_complete == 0


def test_class_defaults_and_set_options_per_instance() -> None:
    class Urgent(NoopJob):
        priority = 30
        destroy_on_complete = False

    run_at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=15)
    assert Urgent.perform_later().priority == 30
    job = Urgent.set(run_at=run_at, priority=5, expires_at=expires).perform_later("x")
    stored = Job.find(job.id)
    assert (stored.priority, stored.run_at, stored.expires_at) == (5, run_at, expires)
    assert stored.scheduled and not stored.expired and not stored.destroy_on_complete


@pytest.mark.parametrize("priority", [0, 101, "5", 2.0, None])
def test_priority_outside_1_to_100_is_refused_and_nothing_stored(priority: object) -> None:
    with pytest.raises(ValidationError, match="priority must be an integer from 1"):
        NoopJob.set(priority=priority).perform_later()
    assert Job.counts_by_state() == {}


def test_priority_checked_at_class_definition() -> None:
    with pytest.raises(ValidationError, match=r"Bad\.priority"):

        class Bad(Job):
            priority = 500


def test_unstorable_argument_is_refused_and_nothing_stored() -> None:
    with pytest.raises(ValidationError, match=r"arguments\['kwargs'\]\['handle'\]"):
        NoopJob.perform_later(handle=open)
    assert Job.counts_by_state() == {}


def test_naive_run_at_is_refused() -> None:
    with pytest.raises(ValidationError, match="run_at must be timezone-aware"):
        NoopJob.set(run_at=dt.datetime(2030, 1, 1)).perform_later()


def test_arguments_round_trip_rich_types() -> None:
    when = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
    job = NoopJob.perform_later(Decimal("1.10"), b"raw", when=when, day=dt.date(2026, 5, 1))
    assert Job.find(job.id).arguments == {
        "args": [Decimal("1.10"), b"raw"],
        "kwargs": {"when": when, "day": dt.date(2026, 5, 1)},
    }


def test_bulk_enqueue_all_or_none() -> None:
    jobs = NoopJob.perform_all_later([("a.csv",), ("b.csv",), {"name": "c"}])
    assert [Job.find(j.id).arguments for j in jobs] == [
        {"args": ["a.csv"], "kwargs": {}},
        {"args": ["b.csv"], "kwargs": {}},
        {"args": [], "kwargs": {"name": "c"}},
    ]
    with pytest.raises(ValidationError, match="item 1"):
        NoopJob.perform_all_later([("ok",), (object(),)])
    with pytest.raises(ValidationError, match="wrap one argument"):
        NoopJob.perform_all_later(["bare"])
    assert Job.counts_by_state() == {"queued": 3}


def test_bulk_enqueue_gives_every_job_its_own_id_arguments_and_defaults() -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    jobs = ProgressJob.set(priority=7, run_at=later, rows=3).perform_all_later([(), (), ()])
    assert len({job.id for job in jobs}) == 3
    jobs[0].tags.append("mine")  # a mutable default is fresh per job, never shared
    assert [job.tags for job in jobs] == [["mine"], [], []]
    for job in jobs:
        stored = Job.find(job.id)
        assert (stored.priority, stored.run_at, stored.rows, stored.tags) == (7, later, 3, [])
        assert (job.priority, job.run_at, job.rows, job.state) == (7, later, 3, JobState.QUEUED)
        assert stored.created_at == job.created_at
    echoes = EchoJob.perform_all_later([(1,), {"b": 2}, (Decimal("1.5"),)])
    assert [Job.find(e.id).arguments for e in echoes] == [
        {"args": [1], "kwargs": {}},
        {"args": [], "kwargs": {"b": 2}},
        {"args": [Decimal("1.5")], "kwargs": {}},
    ]
    assert [e.arguments for e in echoes] == [Job.find(e.id).arguments for e in echoes]
    assert NoopJob.perform_all_later([]) == []


def test_create_with_custom_fields() -> None:
    job = ProgressJob.create(rows=7, tags=["a"], priority=10)
    stored = Job.find(job.id)
    assert (stored.rows, stored.tags, stored.priority) == (7, ["a"], 10)
    assert ProgressJob._custom_fields["tags"].user_editable
    assert ProgressJob().tags == [] and ProgressJob().tags is not ProgressJob().tags
    with pytest.raises(ValidationError, match="has no field 'nope'"):
        ProgressJob.create(nope=1)


def test_perform_now_runs_inline_and_stores_nothing() -> None:
    assert EchoJob.perform_now(1, b=2) == {"args": [1], "kwargs": {"b": 2}}
    from tests.jobs import FailJob

    with pytest.raises(ValueError, match="inline"):
        FailJob.perform_now("inline")
    assert Job.counts_by_state() == {}


def test_state_machine_events_and_invalid_transitions() -> None:
    job = CallbackJob.perform_later()
    assert job.pause().paused and Job.find(job.id).paused
    with pytest.raises(InvalidTransition, match=f"cannot pause job {job.id}: it is paused"):
        job.pause()
    assert job.resume().queued
    with pytest.raises(InvalidTransition):
        job.retry()
    job.fail(RuntimeError("manual"))
    assert job.failed and job.failure_count == 1 and job.exception.message == "manual"
    assert job.retry().queued
    assert job.abort().aborted and job.completed_at is not None
    with pytest.raises(InvalidTransition):
        job.resume()
    assert Job.find(job.id).aborted


def test_a_stale_instance_cannot_overwrite_a_newer_state() -> None:
    job = NoopJob.perform_later()
    stale = Job.find(job.id)
    job.abort()
    with pytest.raises(InvalidTransition, match="it is aborted"):
        stale.pause()
    assert stale.aborted


def test_running_job_pauses_only_when_pausable() -> None:
    job = NoopJob.perform_later()
    rocketjob.current_store().claim_jobs(["h:1:1"], ["tests.jobs.NoopJob"], dt.datetime.now(dt.UTC))
    job.reload()
    assert job.running and job.worker_name == "h:1:1"
    with pytest.raises(InvalidTransition):
        job.pause()

    class Pausable(NoopJob):
        pausable = True

    assert Job.find(job.id).__class__ is NoopJob
    pausable = Pausable.perform_later()
    rocketjob.current_store().claim_jobs(
        ["h:1:2"], [Pausable._job_class_path], dt.datetime.now(dt.UTC)
    )
    assert pausable.reload().running and pausable.pause().paused


def test_run_now_clears_run_at() -> None:
    job = NoopJob.set(run_at=dt.timedelta(hours=1)).perform_later()
    assert job.scheduled
    job.run_now()
    assert not job.scheduled and Job.find(job.id).run_at is None


def test_expired_property() -> None:
    job = NoopJob.set(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).perform_later()
    assert job.expired


def test_find_missing_raises_job_not_found() -> None:
    with pytest.raises(JobNotFound, match="no job with id 'nope'"):
        Job.find("nope")
    assert issubclass(JobNotFound, LookupError)


def test_destroy_and_reload() -> None:
    kept = ProgressJob.perform_later()
    kept.destroy()
    with pytest.raises(JobNotFound):
        kept.reload()
    gone = NoopJob.perform_later()
    gone.destroy()
    assert gone.reload().completed  # destroy_on_complete: a destroyed job reads as completed


def test_where_filters_pages_and_counts() -> None:
    noops = NoopJob.perform_all_later([(i,) for i in range(5)])
    echo = EchoJob.perform_later()
    echo.pause()
    assert [j.id for j in Job.where(state="queued")] == [j.id for j in noops]
    assert [j.id for j in Job.where(job_class=EchoJob)] == [echo.id]
    assert [j.id for j in EchoJob.where()] == [echo.id]
    first = Job.where(state="queued", limit=2)
    second = Job.where(state="queued", limit=2, after=first[-1].id)
    assert [j.id for j in first + second] == [j.id for j in noops[:4]]
    newest = Job.where(limit=1, descending=True)
    assert newest[0].id == echo.id
    assert Job.counts_by_state() == {"queued": 5, "paused": 1}
    assert EchoJob.counts_by_state() == {"paused": 1}


def test_status_is_json_safe_and_complete() -> None:
    import json

    job = ProgressJob.set(description="nightly").perform_later(dt.date(2026, 1, 1))
    status = Job.find(job.id).status()
    json.dumps(status)
    for name in ("id", "job_class", "arguments", "description", "priority", "run_at",
                 "expires_at", "destroy_on_complete", "collect_output", "result", "state",
                 "created_at", "started_at", "completed_at", "failure_count", "worker_name",
                 "percent_complete", "exception", "log_level", "scheduled", "expired"):  # fmt: skip
        assert name in status
    assert status["fields"] == {"rows": 0, "tags": []}
    assert status["description"] == "nightly"


def test_save_updates_progress_and_custom_fields() -> None:
    job = ProgressJob.perform_later()
    job.save(percent_complete=40, rows=12)
    stored = Job.find(job.id)
    assert (stored.percent_complete, stored.rows) == (40, 12)
    with pytest.raises(ValidationError, match="priority"):
        job.save(priority=0)


def test_logger_is_bound_to_the_job() -> None:
    records: list[dict] = []
    from loguru import logger

    sink = logger.add(lambda message: records.append(message.record["extra"]), level="INFO")
    try:
        job = NoopJob.perform_later()
        job.logger.info("hello")
    finally:
        logger.remove(sink)
    assert records[-1]["job_id"] == job.id
    assert records[-1]["job_class"] == "tests.jobs.NoopJob"


def test_connect_precedence_env_then_default(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from rocketjob import connection

    monkeypatch.setenv("ROCKETJOB_STORE", f"sqlite:///{tmp_path / 'env.db'}")
    assert connection.default_url().endswith("env.db")
    monkeypatch.delenv("ROCKETJOB_STORE")
    assert connection.default_url() == "sqlite:///rocketjob.db"
    with pytest.raises(rocketjob.StoreUnavailable, match="unknown scheme 'redis'"):
        rocketjob.connect("redis://localhost")
