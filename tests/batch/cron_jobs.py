"""A cron batch job (its own module: a worker importing it schedules its instance)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rocketjob import BatchJob


class DailyImportJob(BatchJob):
    """Reads its records when each instance starts (``input``): 1..10, doubled."""

    cron_schedule = "0 3 * * *"
    slice_size = 4
    collect_output = True
    destroy_on_complete = False

    def input(self) -> Iterable[int]:
        return range(1, 11)

    def perform(self, record: Any) -> object:
        return int(record) * 2
