"""Worker statistics read from heartbeats (``info["stats"]``, see :mod:`rocketjob.stats`)
and the throughput Mission Control derives from them.

The counters are per worker process and start at zero with it. A rate is therefore
computed per server from two of its heartbeats (the values and their ``heartbeat_at``),
and summed over the live servers; a counter that goes down is a reset. Until
Mission Control has seen two heartbeats of a server, that server's rate is its average
since it started (counters over ``heartbeat_at - started_at``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: How far back the recent rate looks.
RATE_WINDOW = dt.timedelta(minutes=5)
#: Heartbeats kept per server (enough for the window at one heartbeat a second).
HISTORY = 400


@dataclass(frozen=True)
class HistogramData:
    """One histogram of a heartbeat: bucket upper bounds, counts per bucket (one more
    than bounds: the last is +Inf) and the sum of observations."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    total: float

    @classmethod
    def parse(cls, value: Any) -> HistogramData | None:
        """From ``{"buckets": [...], "counts": [...], "sum": s}``; None if malformed."""
        if not isinstance(value, Mapping):
            return None
        bounds, counts, total = value.get("buckets"), value.get("counts"), value.get("sum")
        if not (isinstance(bounds, list) and isinstance(counts, list)):
            return None
        if len(counts) != len(bounds) + 1 or not isinstance(total, int | float):
            return None
        if not all(isinstance(b, int | float) and math.isfinite(b) for b in bounds):
            return None
        if not all(isinstance(c, int) and c >= 0 for c in counts) or bounds != sorted(bounds):
            return None
        return cls(tuple(float(b) for b in bounds), tuple(counts), float(total))

    def cumulative(self) -> list[tuple[float, int]]:
        """``(le, count of observations <= le)`` per bucket, ending with ``+inf``."""
        out, running = [], 0
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out

    @property
    def count(self) -> int:
        """Every observation."""
        return sum(self.counts)


@dataclass(frozen=True)
class ServerStats:
    """A server's counters and histograms as of its last heartbeat."""

    started: int
    completed: int
    failed: int
    pickup: HistogramData | None
    run: HistogramData | None


def server_stats(server: Mapping[str, Any]) -> ServerStats | None:
    """The ``info["stats"]`` of a server document, or None when it has none (an older
    worker, or a malformed value)."""
    stats = (server.get("info") or {}).get("stats")
    if not isinstance(stats, Mapping):
        return None
    counters: list[int] = []
    for key in ("started", "completed", "failed"):
        value = stats.get(key)
        if not isinstance(value, int) or value < 0:
            return None
        counters.append(value)
    started, completed, failed = counters
    pickup = HistogramData.parse(stats.get("pickup_seconds"))
    run = HistogramData.parse(stats.get("run_seconds"))
    return ServerStats(started, completed, failed, pickup, run)


@dataclass(frozen=True)
class Throughput:
    """Jobs per minute summed over the live servers reporting statistics."""

    completed_per_minute: float
    failed_per_minute: float
    completed: int  # since the processes started
    failed: int
    servers: int  # how many live servers report statistics
    recent: bool  # True when from heartbeats within RATE_WINDOW, False: since start


class CounterRates:
    """Remembers each server's counters per heartbeat, to turn them into rates."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._history: dict[str, deque[tuple[dt.datetime, int, int]]] = {}

    def observe(self, servers: Iterable[Mapping[str, Any]]) -> None:
        """Record the heartbeat values of ``servers`` (each heartbeat once)."""
        with self._lock:
            seen = set()
            for server in servers:
                stats = server_stats(server)
                if stats is None:
                    continue
                key = _key(server)
                seen.add(key)
                history = self._history.setdefault(key, deque(maxlen=HISTORY))
                if not history or history[-1][0] < server["heartbeat_at"]:
                    history.append((server["heartbeat_at"], stats.completed, stats.failed))
            for key in [k for k in self._history if k not in seen]:
                del self._history[key]  # stopped or reaped

    def throughput(self, live: Iterable[Mapping[str, Any]]) -> Throughput | None:
        """Rates over the ``live`` servers; None when none of them reports statistics."""
        completed_rate = failed_rate = 0.0
        completed = failed = count = 0
        recent = True
        with self._lock:
            for server in live:
                stats = server_stats(server)
                if stats is None:
                    continue
                count += 1
                completed, failed = completed + stats.completed, failed + stats.failed
                rate = self._recent_rate(_key(server))
                if rate is None:
                    recent = False
                    rate = _lifetime_rate(server, stats)
                completed_rate += rate[0]
                failed_rate += rate[1]
        if not count:
            return None
        return Throughput(completed_rate, failed_rate, completed, failed, count, recent)

    def _recent_rate(self, key: str) -> tuple[float, float] | None:
        history = self._history.get(key)
        if not history or len(history) < 2:
            return None
        end = history[-1][0]
        window = [h for h in history if end - h[0] <= RATE_WINDOW]
        if len(window) < 2:
            window = [history[-2], history[-1]]
        seconds = (window[-1][0] - window[0][0]).total_seconds()
        if seconds <= 0:
            return None
        done = bad = 0
        for (_, c0, f0), (_, c1, f1) in itertools.pairwise(window):
            done += c1 - c0 if c1 >= c0 else c1  # a decrease is a reset
            bad += f1 - f0 if f1 >= f0 else f1
        return done * 60 / seconds, bad * 60 / seconds


def _key(server: Mapping[str, Any]) -> str:
    return f"{server['name']}@{server.get('started_at')}"


def _lifetime_rate(server: Mapping[str, Any], stats: ServerStats) -> tuple[float, float]:
    started_at = server.get("started_at")
    if not isinstance(started_at, dt.datetime):
        return 0.0, 0.0
    seconds = (server["heartbeat_at"] - started_at).total_seconds()
    if seconds <= 0:
        return 0.0, 0.0
    return stats.completed * 60 / seconds, stats.failed * 60 / seconds
