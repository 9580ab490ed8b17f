"""Logging set-up for the supervisor and its workers.

Uses ``rocketjob.log.setup_logging`` when the logging package provides it (the
supervisor runs only local appenders inline; each worker builds its own appenders after
the fork). Until then a plain stderr sink that shows each record's fields is installed.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol

from rocketjob import log
from rocketjob.config import Config

_FALLBACK_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <7} | {process} | {message} | {extra}"


class LogHandle(Protocol):
    """What ``setup_logging`` returns: reopen files, count drops, flush and close."""

    def reopen(self) -> None:
        """Reopen log files (after rotation; USR1)."""

    def drops(self) -> Any:
        """Records dropped so far (an int or a per-appender mapping)."""

    def close(self) -> None:
        """Flush and close the appenders within the close deadline."""


class _StderrHandle:
    """The fallback: one synchronous stderr sink (no thread, nothing to reopen)."""

    def __init__(self, level: str) -> None:
        log.logger.remove()
        log.logger.add(sys.stderr, level=level.upper(), format=_FALLBACK_FORMAT)

    def reopen(self) -> None:
        """Nothing to reopen."""

    def drops(self) -> int:
        """Nothing is ever dropped."""
        return 0

    def close(self) -> None:
        """Nothing to close."""


def setup(config: Config, role: str) -> LogHandle:
    """Configure logging for this process (``role`` is ``supervisor`` or ``worker``)."""
    setup_logging = getattr(log, "setup_logging", None)
    if setup_logging is None:
        return _StderrHandle(config.logging.level)
    handle: LogHandle = setup_logging(
        config.logging.level,
        config.appenders,
        role=role,
        stdlib_level=config.logging.stdlib_level,
        close_timeout=config.logging.close_timeout,
    )
    return handle
