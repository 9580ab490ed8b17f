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


def enqueue_noops(n: int, chunk: int = 1000) -> list[NoopJob]:
    """Bulk-enqueue ``n`` NoopJob jobs (arguments 0..n-1), ``chunk`` per transaction."""
    jobs: list[NoopJob] = []
    for start in range(0, n, chunk):
        jobs += NoopJob.perform_all_later([(i,) for i in range(start, min(n, start + chunk))])
    return jobs
