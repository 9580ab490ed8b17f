"""Coroutine job classes with behaviours (throttle, cron, processing window, singleton),
in their own module: a cron class gets a scheduled instance at every worker boot, so
only the behaviour tests import it."""

from __future__ import annotations

import asyncio
import datetime as dt

from rocketjob import Job
from tests.aio.jobs import note

_CLOSED_HOUR = (dt.datetime.now(dt.UTC).hour + 12) % 24


class AsyncThrottled(Job):
    """At most one running at a time, across the worker's slots."""

    throttle_running_jobs = 1

    async def perform(self, path: str, tag: str) -> None:
        note(path, f"start {tag}")
        await asyncio.sleep(0.2)
        note(path, f"done {tag}")


class AsyncCron(Job):
    """Every minute; the next instance is scheduled when one completes."""

    cron_schedule = "* * * * * UTC"

    async def perform(self) -> None:
        await asyncio.sleep(0)


class AsyncWindowed(Job):
    """Only inside a window 12 hours away: claimed now, it is re-scheduled, not run."""

    processing_window = (f"0 {_CLOSED_HOUR} * * * UTC", 60)

    async def perform(self, path: str) -> None:
        note(path, "ran windowed")


class AsyncSingleton(Job):
    """One instance at a time."""

    singleton = True

    async def perform(self, path: str) -> None:
        note(path, "start singleton")
        await asyncio.sleep(1.0)
