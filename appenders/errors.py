"""Errors of the appenders package."""

from __future__ import annotations


class AppenderConfigError(ValueError):
    """An appender entry is invalid; the message names it: ``appenders[2].url: ...``."""


class DeliveryError(Exception):
    """Delivery of a batch failed. ``transient`` failures are retried, others dropped.

    ``retry_after`` (seconds) is the receiver's own hint, e.g. from an HTTP 429.
    """

    def __init__(self, message: str, *, transient: bool = True, retry_after: float | None = None):
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


def permanent(message: str) -> DeliveryError:
    """A failure that retrying cannot fix (bad request, rejected credentials)."""
    return DeliveryError(message, transient=False)
