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


#: Where a FakeClock's wall-clock time starts.
START = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)


class FakeClock:
    """A :class:`rocketjob.clock.Clock` whose time moves only when told: ``advance()``,
    or ``sleep()``, which returns at once after moving the time on. Its ``now`` is also
    what Mission Control takes as ``create_app(now=...)``."""

    def __init__(self, start: dt.datetime = START, monotonic: float = 100.0) -> None:
        self.start = start
        self.origin = monotonic
        self.elapsed = 0.0  # seconds advanced so far
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        """The fake monotonic time."""
        return self.origin + self.elapsed

    def now(self) -> dt.datetime:
        """The fake wall-clock time: the start plus the time advanced."""
        return self.start + dt.timedelta(seconds=self.elapsed)

    def sleep(self, seconds: float) -> None:
        """Record the pause and move the time on by it."""
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))

    def advance(self, seconds: float = 0.0, **delta: float) -> None:
        """Move the time on by ``seconds`` plus any ``timedelta`` keywords
        (``minutes=30``); a negative step winds it back (a test's choice)."""
        self.elapsed += dt.timedelta(seconds=seconds, **delta).total_seconds()
