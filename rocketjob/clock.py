"""Time, injected: loops take a Clock so tests can use a fake one."""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock time for timestamps, monotonic time for durations."""

    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary start, never going backwards."""


class SystemClock:
    """The real clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK = SystemClock()


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)
