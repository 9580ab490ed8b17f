"""What an operator reads from the Python API (issue 21): ``duration``, ``queued_for`` and
``next_retry_at`` in ``job.status()``, an expired job read as expired, a misspelt option
named, and the relative times and durations Mission Control and the CLI print."""

from __future__ import annotations

import datetime as dt

import pytest

from rocketjob import Job, ValidationError, attempts, timing
from tests.conftest import running_worker
from tests.jobs import AppendJob, FailJob, NoopJob
from tests.support import wait_until

T0 = dt.datetime(2026, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


def _doc(state: str, **times: int | None) -> dict[str, object]:
    """A job document with times given as seconds after T0."""
    doc: dict[str, object] = {"state": state}
    for name in ("created_at", "run_at", "started_at", "completed_at"):
        offset = times.get(name)
        doc[name] = None if offset is None else T0 + dt.timedelta(seconds=offset)
    return doc


@pytest.mark.parametrize(
    ("doc", "now", "duration", "queued_for"),
    [
        (_doc("queued", created_at=0), 30, None, 30.0),  # still waiting
        (_doc("queued", created_at=0, run_at=100), 30, None, None),  # scheduled
        (_doc("queued", created_at=0, run_at=10), 30, None, 20.0),  # due since run_at
        (_doc("running", created_at=0, started_at=5), 65, 60.0, 5.0),  # elapsed so far
        (_doc("completed", created_at=0, started_at=2, completed_at=9), 500, 7.0, 2.0),
        (_doc("failed", created_at=0, run_at=4, started_at=6, completed_at=7), 99, 1.0, 2.0),
        (_doc("failed", created_at=0, completed_at=7), 99, None, None),  # failed unrun
        # queued again after a failed attempt: the old started_at is not this attempt's
        (_doc("queued", created_at=0, run_at=50, started_at=6), 60, None, 10.0),
        (_doc("paused", created_at=0, started_at=6), 60, None, None),
    ],
)
def test_duration_and_queued_for(
    doc: dict[str, object], now: int, duration: float | None, queued_for: float | None
) -> None:
    moment = T0 + dt.timedelta(seconds=now)
    assert timing.job_times(doc, moment) == {"duration": duration, "queued_for": queued_for}


def test_human_durations_and_relative_times() -> None:
    assert [timing.human_seconds(s) for s in (None, 0.25, 4.21, 62, 7500, 90000)] == [
        "", "250 ms", "4.2 s", "1 min 2 s", "2 h 5 min", "1 d 1 h",
    ]  # fmt: skip
    assert timing.relative(T0 - dt.timedelta(minutes=3), T0) == "3 min ago"
    assert timing.relative(T0 + dt.timedelta(hours=2), T0) == "in 2 h"
    assert timing.relative(T0 + dt.timedelta(seconds=0.4), T0) == "just now"
    assert timing.relative(T0 - dt.timedelta(seconds=42.9), T0) == "42 s ago"
    assert timing.relative(None, T0) == ""


def test_attempts_keep_the_last_25_in_order() -> None:
    history: list[dict[str, object]] = []
    for number in range(1, 31):
        exception = {"class_name": "ValueError", "message": f"bad {number}" + "x" * 2000,
                     "worker_name": f"host:1:{number}"}  # fmt: skip
        history = attempts.with_failure(
            history, exception, number=number, at=T0 + dt.timedelta(seconds=number),
            started_at=T0,
        )  # fmt: skip
    assert len(history) == attempts.MAX_ATTEMPTS == 25
    assert [a["number"] for a in history] == list(range(6, 31))
    assert history[-1]["worker_name"] == "host:1:30"
    assert len(str(history[-1]["message"])) == attempts.MESSAGE_LIMIT
    readable = attempts.readable(history)
    assert readable[-1]["at"] == T0 + dt.timedelta(seconds=30)
    assert readable[-1]["ran_for"] == 30.0


@pytest.mark.usefixtures("sqlite_url")
def test_status_has_duration_queued_for_and_next_retry() -> None:
    queued = NoopJob.perform_later()
    status = queued.status()
    assert status["duration"] is None and status["queued_for"] >= 0
    assert status["next_retry_at"] is None
    job = FailJob.perform_later("flaky")
    job.fail(ValueError("flaky"))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    job.retry(run_at=later)
    status = job.status()
    assert status["next_retry_at"] == later.isoformat() and status["scheduled"]
    assert status["queued_for"] is None  # scheduled: not waiting in the queue yet


@pytest.mark.usefixtures("sqlite_url")
def test_a_finished_job_reports_how_long_it_ran_and_waited() -> None:
    job = FailJob.perform_later("always")
    with running_worker():
        wait_until(lambda: job.reload().failed)
    status = job.status()
    assert status["duration"] is not None and 0 <= status["duration"] < 5
    assert status["queued_for"] is not None and 0 <= status["queued_for"] < 5


@pytest.mark.usefixtures("sqlite_url")
def test_a_job_discarded_at_expiry_reads_as_expired(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ran.txt"
    expired = AppendJob.set(expires_at=dt.timedelta(milliseconds=1)).perform_later(str(path))
    retained = AppendJob.set(destroy_on_complete=True).perform_later(str(path))
    with running_worker(threads=1):
        wait_until(lambda: Job.counts_by_state() == {})
    expired.reload()
    assert expired.expired and not expired.completed and expired.state == "queued"
    assert expired.status()["expired"] is True
    assert retained.reload().completed  # destroyed on completion: reads as completed


@pytest.mark.usefixtures("sqlite_url")
def test_a_misspelt_option_names_the_field_meant() -> None:
    with pytest.raises(ValidationError, match="did you mean 'priority'"):
        NoopJob.set(prority=5).perform_later()
    with pytest.raises(ValidationError, match="did you mean 'run_at'"):
        NoopJob.set(runat=dt.timedelta(hours=1)).perform_later()
    with pytest.raises(ValidationError, match="declare it as a class annotation"):
        NoopJob.set(rows=5).perform_later()
    assert Job.counts_by_state() == {}


@pytest.mark.usefixtures("sqlite_url")
def test_every_failed_attempt_of_a_retried_job_is_kept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A worker runs a job that fails three times (retry_limit 2): each failure leaves
    an entry, oldest first, with the worker, the exception and when it started."""
    from tests.plugins.jobs import FlakyJob

    job = FlakyJob.perform_later(str(tmp_path / "tries.txt"))
    with running_worker(imports=["tests.plugins.jobs"]):
        wait_until(lambda: job.reload().failed and job.failure_count == 3)
    history = job.attempts
    assert [a["number"] for a in history] == [1, 2, 3]
    for entry in history:
        assert entry["class_name"] == "RuntimeError" and entry["worker_name"].count(":") == 2
        started, at = (dt.datetime.fromisoformat(entry[k]) for k in ("started_at", "at"))
        assert started <= at
    assert job.status()["attempts"] == history
    readable = attempts.readable(history)
    assert all(a["ran_for"] is not None and a["ran_for"] >= 0 for a in readable)
