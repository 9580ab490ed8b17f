"""Time, injected: loops take a Clock so tests can use a fake one.

The supervisor's main loop and the worker's dispatcher loop read every duration from
``clock.monotonic()``, stamp documents with ``clock.now()`` and pause with
``clock.sleep()``; tests drive them with a fake clock that moves only when told
(``tests/support.py``), so their timing is tested without sleeping.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock time for timestamps, monotonic time for durations, and a pause."""

    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary start, never going backwards."""

    def sleep(self, seconds: float) -> None:
        """Pause the calling thread for ``seconds`` (a fake clock just moves on)."""


class SystemClock:
    """The real clock."""

    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """``time.sleep(seconds)``."""
        time.sleep(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)
