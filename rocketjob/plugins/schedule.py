"""Cron schedules: five cron fields plus an optional IANA time zone (croniter).

``"0 2 * * * America/New_York"`` is 02:00 New York time every day; without a zone the
schedule is in UTC. Times go in and come out timezone-aware UTC; the zone only decides
which wall-clock times the fields name (croniter handles daylight-saving gaps).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from croniter import croniter

from rocketjob.errors import ValidationError

_ONE_SECOND = dt.timedelta(seconds=1)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed cron schedule: its five fields and its time zone."""

    text: str
    fields: str
    zone: dt.tzinfo

    @classmethod
    def parse(cls, text: object, where: str) -> CronSchedule:
        """Parse ``text``; raise ValidationError naming ``where`` when it is invalid."""
        if not isinstance(text, str):
            raise ValidationError(f"{where}: expected a cron string, got {text!r}")
        parts = text.split()
        if len(parts) not in (5, 6):
            raise ValidationError(
                f"{where}: {text!r} must be five cron fields plus an optional time zone "
                "(for example '0 2 * * * America/New_York')"
            )
        fields = " ".join(parts[:5])
        if not croniter.is_valid(fields):
            raise ValidationError(f"{where}: {fields!r} is not a valid cron expression")
        zone: dt.tzinfo = dt.UTC
        if len(parts) == 6:
            try:
                zone = zoneinfo.ZoneInfo(parts[5])
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValidationError(
                    f"{where}: unknown time zone {parts[5]!r} (use an IANA name such as "
                    "'Europe/London' or 'UTC')"
                ) from None
        return cls(text, fields, zone)

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        """The first scheduled time strictly after ``moment`` (aware UTC)."""
        it = croniter(self.fields, moment.astimezone(self.zone))
        value: dt.datetime = it.get_next(dt.datetime)
        return value.astimezone(dt.UTC)

    def last_at_or_before(self, moment: dt.datetime) -> dt.datetime:
        """The latest scheduled time at or before ``moment`` (aware UTC)."""
        it = croniter(self.fields, (moment + _ONE_SECOND).astimezone(self.zone))
        value: dt.datetime = it.get_prev(dt.datetime)
        if value > moment:  # sub-second part of moment: step back once more
            value = it.get_prev(dt.datetime)
        return value.astimezone(dt.UTC)
