"""HousekeepingJob: deletes finished jobs older than their retention period.

A cron job (hourly by default). Retention periods are class attributes; subclass to
change them (``None`` keeps those jobs forever)::

    class MyHousekeeping(HousekeepingJob):
        cron_schedule = "15 * * * *"
        failed_retention = dt.timedelta(days=30)

Jobs are deleted in batches of ``batch_size`` (one short store transaction each), so a
large clean-up never locks the store for long.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from rocketjob.clock import utcnow
from rocketjob.connection import current_store
from rocketjob.job import Job

#: Most batches deleted per state in one run (the next run continues).
MAX_BATCHES = 1000


class HousekeepingJob(Job):
    """Deletes completed, aborted and failed jobs past their retention period."""

    cron_schedule = "0 * * * *"
    priority = 80
    completed_retention: ClassVar[dt.timedelta | None] = dt.timedelta(days=7)
    aborted_retention: ClassVar[dt.timedelta | None] = dt.timedelta(days=7)
    failed_retention: ClassVar[dt.timedelta | None] = dt.timedelta(days=14)
    batch_size: ClassVar[int] = 1000

    def perform(self, now: dt.datetime | None = None) -> dict[str, int]:
        """Delete old finished jobs; returns how many per state."""
        moment = now or utcnow()
        deleted: dict[str, int] = {}
        for state in ("completed", "aborted", "failed"):
            retention: dt.timedelta | None = getattr(self, f"{state}_retention")
            if retention is not None:
                deleted[state] = self.delete_older(state, moment - retention)
        self.logger.info("housekeeping done", **deleted)
        return deleted

    def delete_older(self, state: str, cutoff: dt.datetime) -> int:
        """Delete jobs in ``state`` finished before ``cutoff``, batch by batch."""
        total = 0
        store = current_store()
        for _ in range(MAX_BATCHES):
            count = store.delete_jobs([state], cutoff, self.batch_size)
            total += count
            if count < self.batch_size:
                break
        return total
