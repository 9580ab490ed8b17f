"""Cron: ``cron_schedule = "0 2 * * * America/New_York"`` keeps exactly one instance of
the class scheduled at its next time.

* A new instance is created with ``run_at`` at the next time of the schedule (unless
  ``run_at`` is given).
* When an instance completes, fails for good (no retry left) or is aborted, the next one
  is created, scheduled from now; fields declared ``copy_on_restart`` carry over.
* At worker boot :func:`ensure_scheduled` creates the instance of every imported cron
  class that has none queued, running or paused. Cron instances share the singleton key
  (see :mod:`rocketjob.plugins.singleton`), so servers booting together still leave
  exactly one.
* Missed runs are not replayed: if nothing ran while a time passed, the one queued
  instance runs once as soon as a worker is back, and the next is scheduled from then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from rocketjob.errors import DuplicateJob
from rocketjob.job import Job, resolve_class
from rocketjob.log import logger
from rocketjob.plugins.schedule import CronSchedule


def validate(cls: Any, name: str) -> None:
    """Parse ``cron_schedule`` once and keep it on the class."""
    text = cls.cron_schedule
    cls._cron = None if text is None else CronSchedule.parse(text, f"{name}.cron_schedule")


def schedule_of(cls: Any) -> CronSchedule | None:
    """The parsed schedule of a job class, or None when it is not a cron class."""
    schedule: CronSchedule | None = getattr(cls, "_cron", None)
    return schedule


def next_run_at(cls: Any, now: dt.datetime) -> dt.datetime | None:
    """The next scheduled time of ``cls`` after ``now``, or None for a non-cron class."""
    schedule = schedule_of(cls)
    return None if schedule is None else schedule.next_after(now)


def schedule_next(job: Job, now: dt.datetime) -> Job | None:
    """Create the instance after ``job`` (it just finished); None when one already
    exists (another process made it) or the class is not a cron class."""
    cls = type(job)
    if schedule_of(cls) is None:
        return None
    values = {
        spec.name: getattr(job, spec.name)
        for spec in cls._custom_fields.values()
        if spec.copy_on_restart
    }
    try:
        created = cls.set(run_at=next_run_at(cls, now)).create(**values)
    except DuplicateJob:
        return None
    logger.info("cron job scheduled", job_id=created.id, job_class=created.job_class,
                run_at=str(created.run_at))  # fmt: skip
    return created


def ensure_scheduled(classes: Iterable[str], now: dt.datetime) -> list[Job]:
    """Make sure each cron class among ``classes`` (dotted paths) has its one instance;
    returns the instances this call created."""
    created: list[Job] = []
    for path in sorted(classes):
        cls = resolve_class(path)
        if cls is None or schedule_of(cls) is None:
            continue
        try:
            created.append(cls.set(run_at=next_run_at(cls, now)).create())
        except DuplicateJob:
            continue
    return created


def cron_classes(classes: Iterable[str]) -> list[type[Job]]:
    """The cron job classes among ``classes`` (dotted paths), sorted by path."""
    found = [resolve_class(path) for path in sorted(classes)]
    return [cls for cls in found if cls is not None and schedule_of(cls) is not None]
