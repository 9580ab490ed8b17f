"""MongoDB store: waking idle workers when jobs are queued.

Where the server supports change streams (replica sets and sharded clusters, including a
single-node replica set), one change stream per store watches the jobs collection for
inserts and for updates that set ``state`` to ``queued``; the stream is kept open across
waits, so an event that arrives while the worker is busy wakes the next wait at once.

Otherwise (a standalone ``mongod``) it polls a cheap fingerprint of the queued jobs
(their count and newest id): every 10 ms right after a change, backing off by half up to
250 ms while nothing changes, with jitter so idle workers do not poll in lockstep.
Writes made through this store wake its own waits at once in both modes.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from typing import Any

from pymongo.collection import Collection
from pymongo.errors import OperationFailure, PyMongoError

AWAIT_MS = 100  # how long one change-stream getMore waits on the server
POLL_MIN = 0.010
POLL_MAX = 0.250
_PIPELINE = [
    {
        "$match": {
            "$or": [
                {"operationType": {"$in": ["insert", "replace"]}},
                {"updateDescription.updatedFields.state": "queued"},
            ]
        }
    }
]


class Wakeups:
    """``wait(timeout)`` returns early when jobs may have been queued."""

    def __init__(self, jobs: Collection[dict[str, Any]], *, use_change_stream: bool) -> None:
        self._jobs = jobs
        self._use_stream = use_change_stream
        self._stream: Any = None
        self._lock = threading.Lock()
        self._local = threading.Event()
        self._fingerprint: tuple[int, str] | None = None
        self._interval = POLL_MIN

    @property
    def mode(self) -> str:
        """``change_stream`` or ``poll``."""
        return "change_stream" if self._use_stream else "poll"

    def poke(self) -> None:
        """A write through this store queued a job: wake this process's waiter."""
        self._local.set()

    def wait(self, timeout: float) -> None:
        """Block at most ``timeout`` seconds; never raises (errors end the wait early
        and the stream is reopened next time)."""
        deadline = time.monotonic() + max(0.0, timeout)
        if self._local.is_set():
            self._local.clear()
            return
        if not self._lock.acquire(timeout=max(0.0, timeout)):
            return
        try:
            if self._use_stream:
                self._wait_stream(deadline)
            else:
                self._wait_poll(deadline)
        except PyMongoError:
            self._close_stream()
            self._local.wait(max(0.0, min(0.5, deadline - time.monotonic())))
        finally:
            self._local.clear()
            self._lock.release()

    def _wait_stream(self, deadline: float) -> None:
        if self._stream is None:
            try:
                self._stream = self._jobs.watch(_PIPELINE, max_await_time_ms=AWAIT_MS)
            except OperationFailure:  # no change streams after all: poll from now on
                self._use_stream = False
                return
        while not self._local.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= AWAIT_MS / 1000:  # a getMore could overrun the deadline
                self._local.wait(max(0.0, remaining))
                return
            if self._stream.try_next() is not None:
                return

    def _wait_poll(self, deadline: float) -> None:
        while True:
            fingerprint = self._read_fingerprint()
            if self._fingerprint is not None and fingerprint != self._fingerprint:
                self._fingerprint = fingerprint
                self._interval = POLL_MIN
                return
            self._fingerprint = fingerprint
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            pause = self._interval * random.uniform(0.8, 1.2)
            self._interval = min(POLL_MAX, self._interval * 1.5)
            if self._local.wait(min(pause, remaining)):
                return

    def _read_fingerprint(self) -> tuple[int, str]:
        rows = list(
            self._jobs.aggregate(
                [
                    {"$match": {"state": "queued"}},
                    {"$group": {"_id": None, "n": {"$sum": 1}, "newest": {"$max": "$_id"}}},
                ]
            )
        )
        return (int(rows[0]["n"]), str(rows[0]["newest"])) if rows else (0, "")

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(PyMongoError):  # the connection may already be gone
                stream.close()

    def close(self) -> None:
        """Close the change stream."""
        with self._lock:
            self._close_stream()
