"""The appender contract: what every appender implements, and what the wrappers add."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from appenders.record import Record


@runtime_checkable
class Appender(Protocol):
    """Writes records to one destination. Only ``emit`` is required of a custom appender.

    ``emit_batch`` (optional) writes many at once; ``flush``, ``close`` and ``reopen`` default
    to doing nothing. A transient failure raises :class:`appenders.DeliveryError` (or an
    ``OSError``); the delivery wrapper retries it. Every socket or HTTP call takes a timeout.
    """

    def emit(self, record: Record) -> None:
        """Write one record."""


class BatchAppender(Appender, Protocol):
    """An appender with the whole contract: batches, flush, close and reopen."""

    def emit_batch(self, records: Sequence[Record]) -> None:
        """Write many records, in order, as one delivery where the destination allows."""

    def flush(self) -> None:
        """Push buffered records to the destination."""

    def close(self) -> None:
        """Flush and release files, sockets and clients."""

    def reopen(self) -> None:
        """Close and open again (log files after rotation by logrotate: USR1)."""


class DeliveredAppender(Protocol):
    """An appender as rocketjob drives it: a wrapper (asynchronous or inline) around one."""

    name: str
    levelno: int
    local: bool

    def emit(self, record: Record) -> None:
        """Hand over one record; never blocks the caller past the appender's bound."""

    def flush(self, timeout: float = 5.0) -> bool:
        """Deliver what is queued, within ``timeout`` seconds; True when all was handled."""

    def close(self, timeout: float = 5.0) -> bool:
        """Flush and stop within ``timeout`` seconds; True when nothing was left behind."""

    def reopen(self) -> None:
        """Ask the appender to reopen its files or connections."""

    @property
    def dropped(self) -> int:
        """How many records this appender could not deliver."""


def emit_all(target: Appender, records: Sequence[Record]) -> None:
    """``target.emit_batch(records)`` when it has one, else ``emit`` for each record."""
    batch = getattr(target, "emit_batch", None)
    if batch is not None:
        batch(records)
        return
    for record in records:
        target.emit(record)


def call_optional(target: Appender, method: str) -> None:
    """Call ``target.method()`` when the appender defines it."""
    fn = getattr(target, method, None)
    if fn is not None:
        fn()
