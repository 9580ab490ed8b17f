"""Where behaviours meet the job life cycle: called by the enqueuer, the executor and
the state machine. Each hook is small and delegates to one behaviour module."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from rocketjob.log import logger
from rocketjob.plugins import cron, retry, window
from rocketjob.plugins.singleton import singleton_key
from rocketjob.state import JobState

if TYPE_CHECKING:
    from rocketjob.job import Job


def on_build(job: Job, now: dt.datetime) -> None:
    """A new job is about to be stored: its singleton key, and a cron job's run_at."""
    cls = type(job)
    job.singleton_key = singleton_key(cls)
    if job.run_at is None and cron.schedule_of(cls) is not None:
        job.run_at = cron.next_run_at(cls, now)


def window_reschedule(job: Job, now: dt.datetime) -> dt.datetime | None:
    """The next opening when ``job`` was claimed outside its processing window."""
    return window.next_opening(type(job), now)


def after_failure(job: Job, now: dt.datetime) -> None:
    """A job failed on a worker (and after_fail ran): retry it, or, when it failed for
    good, schedule a cron class's next instance."""
    if job.state == JobState.FAILED and retry.retry_failed(job, now):
        logger.info("job retry scheduled", job_id=job.id, failure_count=job.failure_count,
                    run_at=str(job.run_at))  # fmt: skip
        return
    if job.state == JobState.FAILED:
        cron.schedule_next(job, now)


def after_event(job: Job, event: str, now: dt.datetime) -> None:
    """After a state-machine event (``job.abort()``, ``job.fail(exc)``): a cron class
    schedules its next instance when this one reached a final or failed state."""
    if event in ("abort", "fail", "complete"):
        cron.schedule_next(job, now)


def after_complete(job: Job, now: dt.datetime) -> None:
    """A job completed on a worker: a cron class schedules its next instance."""
    cron.schedule_next(job, now)


def describe(cls: Any) -> dict[str, Any]:
    """The behaviours of a job class, for listings."""
    return {
        "retry_limit": cls.retry_limit,
        "cron_schedule": cls.cron_schedule,
        "singleton": cls.singleton,
        "throttle_running_jobs": cls.throttle_running_jobs,
        "throttle_group": cls.throttle_group,
        "processing_window": cls.processing_window,
    }
