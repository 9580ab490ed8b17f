"""Job counts for dashboards, cached: a full count of a million jobs costs a few hundred
milliseconds, so pages never wait for one.

Counts are computed on a separate store connection (so a slow count never holds the
connection that pages use) by a background thread, at most once per ``ttl`` seconds:
a page past the ttl gets the previous figures at once and triggers a refresh. Only the
very first read (done at app start-up) waits.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rocketjob.log import logger
from rocketjob.store import Store
from rocketjob.store.base import MissionControlStore

#: How far back throughput and timing figures look.
WINDOW = dt.timedelta(hours=1)
#: Run-time and wait histograms are computed from at most this many recent jobs.
TIMING_SAMPLE = 5000


@dataclass(frozen=True)
class Snapshot:
    """Counts and recent timings as of ``taken_at`` (monotonic seconds)."""

    by_state: dict[str, int] = field(default_factory=dict)
    by_class: dict[str, dict[str, int]] = field(default_factory=dict)
    per_minute: list[tuple[dt.datetime, str, int]] = field(default_factory=list)
    timings: list[tuple[float, float]] = field(default_factory=list)
    taken_at: float = 0.0
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    #: Queued jobs whose run_at is later than ``now``, per class (part of "queued" above).
    scheduled_by_class: dict[str, int] = field(default_factory=dict)

    def finished(self, state: str) -> int:
        """Stored jobs in ``state`` that finished within the window."""
        return sum(n for _, s, n in self.per_minute if s == state)

    @property
    def total(self) -> int:
        """Every job in the store."""
        return sum(self.by_state.values())

    @property
    def scheduled(self) -> int:
        """Queued jobs that wait for a later run_at."""
        return sum(self.scheduled_by_class.values())

    def in_view(self, name: str) -> int:
        """Jobs in a job list of Mission Control: a state, ``scheduled`` (queued for
        later), ``queued`` (ready to run now) or ``all``."""
        if name == "all":
            return self.total
        if name == "scheduled":
            return self.scheduled
        if name == "queued":
            return max(self.by_state.get("queued", 0) - self.scheduled, 0)
        return self.by_state.get(name, 0)


def take_snapshot(store: Store, now: dt.datetime) -> Snapshot:
    """Count every job by state and class and read the last hour's finished jobs."""
    if isinstance(store, MissionControlStore):
        by_class = store.count_jobs_by_class()
        per_minute = store.finished_per_minute(now - WINDOW)
        timings = store.recent_timings(now - WINDOW, TIMING_SAMPLE)
        scheduled = store.count_scheduled(now)
    else:  # a store without Mission Control methods: by state only, no timings
        by_class, per_minute, timings, scheduled = {}, [], [], {}
    by_state: dict[str, int] = {}
    if by_class:
        for states in by_class.values():
            for state, count in states.items():
                by_state[state] = by_state.get(state, 0) + count
    else:
        by_state = store.count_jobs()
    return Snapshot(by_state, by_class, per_minute, timings, time.monotonic(), now, scheduled)


class CountsCache:
    """The latest :class:`Snapshot`, refreshed in the background once older than ttl."""

    def __init__(
        self, open_store: Callable[[], Store], ttl: float, now: Callable[[], dt.datetime]
    ) -> None:
        self._open_store = open_store
        self._store: Store | None = None
        self.ttl = ttl
        self._now = now
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self._refreshing = False
        self.errors = 0

    def get(self) -> Snapshot:
        """The cached snapshot (computed now only the first time)."""
        snapshot = self._snapshot
        if snapshot is None:
            return self.refresh()
        if time.monotonic() - snapshot.taken_at > self.ttl:
            self._refresh_in_background()
        return snapshot

    def refresh(self) -> Snapshot:
        """Compute a new snapshot now and keep it."""
        with self._lock:
            if self._store is None:
                self._store = self._open_store()
            snapshot = take_snapshot(self._store, self._now())
            self._snapshot = snapshot
            return snapshot

    def _refresh_in_background(self) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True

        def run() -> None:
            try:
                self.refresh()
            except Exception as exc:  # boundary: counted, logged, stale figures kept
                self.errors += 1
                logger.warning("job counts refresh failed", error=str(exc))
            finally:
                self._refreshing = False

        threading.Thread(target=run, name="rocketjob-web-counts", daemon=True).start()

    def close(self) -> None:
        """Close the counting connection."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
