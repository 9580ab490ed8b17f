"""Behaviour attributes are validated at class definition, with clear errors."""

from __future__ import annotations

import datetime as dt

import pytest

from rocketjob import Job, ValidationError
from rocketjob.plugins import window
from rocketjob.plugins.schedule import CronSchedule


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({"cron_schedule": "0 2 * *"}, "BadJob.cron_schedule: '0 2 * *' must be five cron"),
        ({"cron_schedule": "61 2 * * *"}, "is not a valid cron expression"),
        ({"cron_schedule": "0 2 * * * Mars/Base"}, "unknown time zone 'Mars/Base'"),
        ({"throttle_running_jobs": 0}, "BadJob.throttle_running_jobs: must be an integer >= 1"),
        ({"throttle_group": "g"}, "BadJob.throttle_group_limit: must be an integer >= 1"),
        ({"throttle_group_limit": 2}, "set throttle_group too"),
        ({"retry_limit": -1}, "BadJob.retry_limit: must be an integer >= 0"),
        ({"singleton": "yes"}, "BadJob.singleton: must be True or False"),
        ({"processing_window": "0 8 * * *"}, "BadJob.processing_window: expected (cron"),
        ({"processing_window": ("0 8 * * * UTC", 0)}, "duration must be a number of seconds"),
        ({"processing_window": ("nope", 60)}, "BadJob.processing_window"),
    ],
)
def test_bad_attributes_fail_at_class_definition(attrs: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValidationError) as info:
        type("BadJob", (Job,), {"perform": lambda self: None, **attrs})
    assert message in str(info.value)


def test_group_limit_must_agree_across_classes() -> None:
    type("GroupOne", (Job,), {"throttle_group": "agree", "throttle_group_limit": 2})
    with pytest.raises(ValidationError, match="group 'agree' already has limit 2"):
        type("GroupTwo", (Job,), {"throttle_group": "agree", "throttle_group_limit": 3})


def test_cron_schedule_in_a_time_zone() -> None:
    schedule = CronSchedule.parse("0 2 * * * America/New_York", "x")
    winter = dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC)
    assert schedule.next_after(winter) == dt.datetime(2026, 1, 11, 7, 0, tzinfo=dt.UTC)
    summer = dt.datetime(2026, 7, 10, 12, 0, tzinfo=dt.UTC)
    assert schedule.next_after(summer) == dt.datetime(2026, 7, 11, 6, 0, tzinfo=dt.UTC)
    assert schedule.last_at_or_before(dt.datetime(2026, 1, 11, 7, 0, tzinfo=dt.UTC)) == (
        dt.datetime(2026, 1, 11, 7, 0, tzinfo=dt.UTC)
    )


def test_processing_window_open_and_closed() -> None:
    cls = type("WindowJob", (Job,), {"processing_window": ("0 8 * * * UTC", 3600)})
    day = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    assert window.next_opening(cls, day.replace(hour=8)) is None
    assert window.next_opening(cls, day.replace(hour=8, minute=59, second=59)) is None
    assert window.next_opening(cls, day.replace(hour=9)) == day.replace(day=2, hour=8)
    assert window.next_opening(cls, day.replace(hour=7, minute=30)) == day.replace(hour=8)
