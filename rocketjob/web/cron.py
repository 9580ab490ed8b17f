"""Cron schedules for Mission Control: each known cron class, its next time, its instance.

Known cron classes are those imported in the web process (the ``[worker] imports``
modules and anything the host application imported), plus the classes of active jobs in
the store (from the cached counts) that resolve to a cron class when their module is
imported, the way the job page resolves a job's class. A class whose module the web
process cannot import cannot be recognised as cron, and is not listed.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from typing import Any

from rocketjob.errors import DuplicateJob
from rocketjob.job import REGISTRY, Job, resolve_class
from rocketjob.plugins import cron
from rocketjob.plugins.singleton import ACTIVE_STATES

#: Seconds before a class path that failed to import is tried again.
RETRY_IMPORT_SECONDS = 60.0
_unresolved: dict[str, float] = {}


def _resolve(path: str) -> type[Job] | None:
    """resolve_class, remembering failures for a while (a failed import is not cached
    by Python, and the page should not search sys.path for every stored class)."""
    failed_at = _unresolved.get(path)
    if failed_at is not None and time.monotonic() - failed_at < RETRY_IMPORT_SECONDS:
        return None
    cls = resolve_class(path)
    if cls is None:
        _unresolved[path] = time.monotonic()
    else:
        _unresolved.pop(path, None)
    return cls


def cron_classes(stored_classes: Iterable[str]) -> list[type[Job]]:
    """Imported cron classes plus those among ``stored_classes`` (dotted paths)."""
    paths = set(REGISTRY) | set(stored_classes)
    found = [_resolve(path) for path in sorted(paths)]
    return [cls for cls in found if cls is not None and cron.schedule_of(cls) is not None]


def cron_rows(stored_classes: Iterable[str], now: dt.datetime) -> list[dict[str, Any]]:
    """One row per cron class: path, schedule, next time and active instance."""
    rows = []
    for cls in cron_classes(stored_classes):
        jobs = cls.where(list(ACTIVE_STATES), limit=1)
        rows.append({
            "job_class": cls._job_class_path, "cron_schedule": cls.cron_schedule,
            "next_time": cron.next_run_at(cls, now),
            "instance": jobs[0] if jobs else None,
        })  # fmt: skip
    return rows


def run_now(job_class: str) -> tuple[Job, bool]:
    """Run the class's instance now (``job.run_now()``); when it has none, create one
    and run it at once. Returns the job and whether it was created. Raises LookupError
    for a class that is not a cron class, InvalidTransition when the instance is running
    or paused."""
    cls = resolve_class(job_class)
    if cls is None or cron.schedule_of(cls) is None:
        raise LookupError(f"{job_class!r} is not a known cron job class")
    for _ in range(3):  # the instance may finish (and be replaced) meanwhile
        jobs = cls.where(list(ACTIVE_STATES), limit=1)
        if jobs:
            return jobs[0].run_now(), False
        try:
            created = cls.create()  # scheduled at the next time, then run now
        except DuplicateJob:
            continue
        return created.run_now(), True
    raise LookupError(f"the instance of {job_class} kept changing: try again")
