"""The benchmark's no-op job: it only stamps its start (see :mod:`bench.stamps`)."""

from __future__ import annotations

from bench.stamps import stamp
from rocketjob import Job


class StampJob(Job):
    """A no-op job that records its start time; destroyed on completion (the default)."""

    def perform(self, i: int, enq_ts: float) -> None:
        stamp(i, enq_ts)


class NoopJob(Job):
    """A job that does nothing (bench/worker_cost.py: idle cost and memory)."""

    def perform(self, i: int) -> None:
        return None
