"""Helpers shared by every test folder: waiting on a condition, and a fake clock.

No test sleeps to "let things happen" (STYLE §6): it waits for the condition it needs
with :func:`wait_until`, which fails the test, naming what it waited for, at the deadline.
Loops that take a :class:`rocketjob.clock.Clock` (the supervisor's main loop, the worker's
dispatcher loop) are driven with :class:`FakeClock`, whose time moves only when told.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    timeout: float = 10.0,
    what: str = "",
    interval: float = 0.01,
) -> T:
    """Poll ``condition`` until it returns a truthy value, and return that value; fail
    the test with an AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not met within {timeout}s: {what or condition}")
        time.sleep(interval)


class FakeClock:
    """A :class:`rocketjob.clock.Clock` whose time moves only when told: ``advance()``,
    or ``sleep()``, which returns at once after moving the time on."""

    def __init__(self, monotonic: float = 100.0, now: dt.datetime | None = None) -> None:
        self.monotonic_value = monotonic
        self.start = now or dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        self.origin = monotonic
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        """The fake monotonic time."""
        return self.monotonic_value

    def now(self) -> dt.datetime:
        """The fake wall-clock time: the start plus the time advanced."""
        return self.start + dt.timedelta(seconds=self.monotonic_value - self.origin)

    def sleep(self, seconds: float) -> None:
        """Record the pause and move the time on by it."""
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move the time on by ``seconds``."""
        self.monotonic_value += max(0.0, seconds)
