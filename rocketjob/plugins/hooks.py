"""Where behaviours meet the job life cycle: the functions each behaviour registers into
``rocketjob.job.HOOKS``. Each is small and delegates to one behaviour module."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from rocketjob.hooks import JobHooks
from rocketjob.job import Job
from rocketjob.log import logger
from rocketjob.plugins import cron, retry, window
from rocketjob.plugins.singleton import singleton_key
from rocketjob.state import JobState


def register(hooks: JobHooks[Job], validate: Callable[[type[Job]], None]) -> None:
    """Plug the behaviours into the job model (once, at import of rocketjob.plugins)."""
    if on_build in hooks.building:
        return
    hooks.class_defined.append(validate)
    hooks.building.append(on_build)
    hooks.deferral.append(window_reschedule)
    hooks.after_event.append(after_event)


def on_build(job: Job, now: dt.datetime) -> None:
    """A new job is about to be stored: its singleton key, and a cron job's run_at."""
    cls = type(job)
    job.singleton_key = singleton_key(cls)
    if job.run_at is None and cron.schedule_of(cls) is not None:
        job.run_at = cron.next_run_at(cls, now)


def window_reschedule(job: Job, now: dt.datetime) -> dt.datetime | None:
    """The next opening when ``job`` was claimed outside its processing window."""
    return window.next_opening(type(job), now)


def after_event(job: Job, event: str, now: dt.datetime, by_worker: bool) -> None:
    """After an event: a job that failed on a worker is retried while it has retries
    left (retry); a cron class schedules its next instance when this one completed,
    was aborted or failed for good (cron)."""
    retried = event == "fail" and by_worker and retry.retry_failed(job, now)
    if retried:
        logger.info("job retry scheduled", job_id=job.id, failure_count=job.failure_count,
                    run_at=str(job.run_at))  # fmt: skip
        return
    if event in ("complete", "abort") or (event == "fail" and job.state == JobState.FAILED):
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
