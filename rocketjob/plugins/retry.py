"""Retry: ``retry_limit = N`` re-queues a failed job up to N times, each after
``retry_delay(attempt)`` seconds (exponential back-off with jitter by default).

The failure is written first (``failure_count`` counted, exception kept, ``after_fail``
run); then, unless ``after_fail`` already retried the job (custom logic may call
``self.retry(run_at=...)``), the job is re-queued with ``run_at = now +
retry_delay(failure_count)`` while ``failure_count <= retry_limit``. After the limit it
stays failed with its last exception.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rocketjob.errors import InvalidTransition, JobNotFound, ValidationError
from rocketjob.job import Job
from rocketjob.state import JobState


def validate(cls: Any, name: str) -> None:
    """``retry_limit`` must be a non-negative int."""
    limit = cls.retry_limit
    if type(limit) is not int or limit < 0:
        raise ValidationError(f"{name}.retry_limit: must be an integer >= 0, got {limit!r}")


def will_retry(job: Job) -> bool:
    """True when a job that just failed has automatic retries left."""
    return job.state == JobState.FAILED and job.failure_count <= type(job).retry_limit


def retry_failed(job: Job, now: dt.datetime) -> bool:
    """Re-queue ``job`` (just failed) after its delay if it has retries left; True if it
    was re-queued. A job changed meanwhile (aborted, already retried) is left alone."""
    if not will_retry(job):
        return False
    delay = float(job.retry_delay(job.failure_count))
    try:
        job.retry(run_at=now + dt.timedelta(seconds=max(0.0, delay)))
    except (InvalidTransition, JobNotFound):
        return False
    return True
