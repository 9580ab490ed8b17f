"""Logging set-up for the supervisor and its workers.

The supervisor runs only local appenders, inline (no threads at fork); each worker builds
all of its appenders after the fork (see :func:`rocketjob.log.setup_logging`).
"""

from __future__ import annotations

from rocketjob.config import Config
from rocketjob.log import LogHandle, setup_logging


def setup(config: Config, role: str) -> LogHandle:
    """Configure logging for this process (``role`` is ``supervisor`` or ``worker``)."""
    return setup_logging(
        config.logging.level,
        config.appenders,
        role=role,
        stdlib_level=config.logging.stdlib_level,
        close_timeout=config.logging.close_timeout,
    )
