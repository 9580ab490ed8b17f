"""Processing windows: ``processing_window = ("0 8 * * * UTC", 3600)`` runs the class's
jobs only from each opening (a cron time) for the given number of seconds. A job claimed
outside its window is re-scheduled, not run and not failed: back to queued with
``run_at`` at the next opening.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rocketjob.errors import ValidationError
from rocketjob.plugins.schedule import CronSchedule


def validate(cls: Any, name: str) -> None:
    """A ``(cron string, seconds > 0)`` pair, parsed once and kept on the class."""
    value = cls.processing_window
    if value is None:
        cls._window_schedule = None
        return
    where = f"{name}.processing_window"
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ValidationError(
            f"{where}: expected (cron string, duration in seconds), got {value!r}"
        )
    schedule = CronSchedule.parse(value[0], where)
    duration = value[1]
    if isinstance(duration, bool) or not isinstance(duration, int | float) or duration <= 0:
        raise ValidationError(
            f"{where}: duration must be a number of seconds > 0, got {duration!r}"
        )
    if duration >= 366 * 86_400:
        raise ValidationError(f"{where}: duration must be under a year, got {duration!r}")
    cls._window_schedule = schedule


def next_opening(cls: Any, now: dt.datetime) -> dt.datetime | None:
    """None when jobs of ``cls`` may run at ``now``; otherwise the next opening time."""
    schedule: CronSchedule | None = getattr(cls, "_window_schedule", None)
    if schedule is None:
        return None
    duration = dt.timedelta(seconds=float(cls.processing_window[1]))
    opened = schedule.last_at_or_before(now)
    if opened <= now < opened + duration:
        return None
    return schedule.next_after(now)
