"""Example jobs: the ones the README's quick start enqueues."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

from rocketjob import Job


class ImportJob(Job):
    """Count the rows of a CSV file (fire and forget)."""

    priority = 30

    def perform(self, file_name: str) -> int:
        with Path(file_name).open(newline="") as handle:
            rows = sum(1 for _ in csv.reader(handle))
        self.logger.info("imported file", file_name=file_name, rows=rows)
        return rows


class CalculateJob(Job):
    """Add two numbers and keep the result (``collect_output``)."""

    collect_output = True
    destroy_on_complete = False

    def perform(self, a: float, b: float) -> float:
        return a + b


class NoopJob(Job):
    """Does nothing: used by benchmarks."""

    def perform(self, *args: object) -> None:
        return None


class FailingJob(Job):
    """Always fails, to show how a failed job keeps its exception."""

    destroy_on_complete = False

    def perform(self, message: str = "boom") -> None:
        raise RuntimeError(message)


class FetchJob(Job):
    """A coroutine job (``async def perform``): it runs on the worker's event loop, a
    hundred at a time per worker process, for I/O-bound work (docs/jobs.md)."""

    collect_output = True
    destroy_on_complete = False

    async def perform(self, seconds: float) -> str:
        await asyncio.sleep(seconds)  # stands for an HTTP call, awaited
        return f"waited {seconds} s"
