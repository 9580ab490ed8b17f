"""Job classes and a custom appender for the end-to-end logging tests
(``imports = ["tests.integration.log_jobs"]``; ``class = "tests.integration.log_jobs:..."``).

They run inside real worker processes, so what they log crosses the process boundary only
through the configured appenders."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence

from appenders import Record
from rocketjob import Job


class LogLinesJob(Job):
    """Logs one info and one debug line with ``self.logger``, tagged with ``tag``."""

    def perform(self, tag: str) -> None:
        self.logger.info("e2e info line", tag=tag)
        self.logger.debug("e2e debug line", tag=tag)


class AsyncLogLinesJob(Job):
    """LogLinesJob as a coroutine job: it awaits between its lines, so jobs running at
    once on the worker's event loop interleave their records."""

    async def perform(self, tag: str, seconds: float = 0.3) -> None:
        self.logger.info("e2e info line", tag=tag)
        await asyncio.sleep(seconds)
        self.logger.debug("e2e debug line", tag=tag)


def explode(tag: str) -> None:
    """A frame of its own, so the backtrace has more than the perform frame."""
    raise RuntimeError(f"e2e failure {tag}")


class FailingLogJob(Job):
    """Logs its error with the backtrace (``self.logger.exception``), then fails with it."""

    def perform(self, tag: str) -> None:
        try:
            explode(tag)
        except RuntimeError:
            self.logger.exception("e2e job error", tag=tag)
            raise


class FailingJob(Job):
    """Fails without logging anything itself."""

    def perform(self, tag: str) -> None:
        explode(tag)


class TrivialLogJob(Job):
    """One info line per run: the unit of the throughput comparisons."""

    def perform(self, n: int) -> None:
        self.logger.info("e2e trivial job", n=n)


class SlowLogJob(Job):
    """Logs a line every 50 ms for ``seconds`` (a job still running when a drain times out)."""

    def perform(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.logger.info("e2e slow job tick")
            time.sleep(0.05)  # the behaviour under test: a job logging while it runs


class JsonLinesAppender:
    """A custom appender (``type = "custom"``): one JSON record per line in ``path``, written
    with O_APPEND by whichever worker process delivers it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def emit(self, record: Record) -> None:
        """Write one record."""
        self.emit_batch([record])

    def emit_batch(self, records: Sequence[Record]) -> None:
        """Write records in one ``write``."""
        os.write(self.fd, b"".join(r.to_json() + b"\n" for r in records))

    def close(self) -> None:
        """Close the file (once)."""
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)
