"""Per-process job statistics, published in each server's heartbeat ``info["stats"]``.

Counters (started, completed, failed) and two histograms in seconds: *pickup* (from when
a job became runnable — created or its run_at — to its start) and *run* (perform and
callbacks). Mission Control's ``/metrics`` renders them per server in Prometheus text.
Counters start at zero with each worker process (Prometheus treats that as a reset).
"""

from __future__ import annotations

import bisect
import threading
from typing import Any

#: Upper bounds of the histogram buckets, in seconds (the last bucket is +Inf).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
           30.0, 60.0, 300.0)  # fmt: skip


class Histogram:
    """Counts of observations per bucket, and their sum (not thread-safe on its own)."""

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        """Add one observation."""
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form: ``{"buckets": [...], "counts": [...], "sum": s}``."""
        return {"buckets": list(BUCKETS), "counts": list(self.counts), "sum": self.total}


class JobStats:
    """Thread-safe counters and histograms of one worker process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = self.completed = self.failed = 0
        self.pickup = Histogram()
        self.run = Histogram()

    def job_started(self, pickup_seconds: float) -> None:
        """A job started ``pickup_seconds`` after it became runnable."""
        with self._lock:
            self.started += 1
            self.pickup.observe(max(0.0, pickup_seconds))

    def job_finished(self, ok: bool, run_seconds: float) -> None:
        """A job completed (``ok``) or failed after ``run_seconds``."""
        with self._lock:
            if ok:
                self.completed += 1
            else:
                self.failed += 1
            self.run.observe(run_seconds)

    def as_dict(self) -> dict[str, Any]:
        """A snapshot for the heartbeat."""
        with self._lock:
            return {
                "started": self.started,
                "completed": self.completed,
                "failed": self.failed,
                "pickup_seconds": self.pickup.as_dict(),
                "run_seconds": self.run.as_dict(),
            }
