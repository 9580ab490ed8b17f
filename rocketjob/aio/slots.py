"""The slots of a worker's event loop: ``async_concurrency`` named places for coroutine
jobs, as job threads are named places for thread jobs.

Slot ``N`` of server ``host:pid`` runs coroutine jobs as worker ``host:pid:aN`` (the
server part is the same, so a dead server's coroutine jobs are re-queued with its thread
jobs). Read and changed from the dispatcher thread and the loop thread, under a lock.
"""

from __future__ import annotations

import threading


class Slots:
    """Which slots are free, and how many jobs each holds (a slot handed its next job
    by a claim ahead stays busy)."""

    def __init__(self, server_name: str, size: int, freed: threading.Event) -> None:
        self._lock = threading.Lock()
        self._names = [f"{server_name}:a{number}" for number in range(1, size + 1)]
        self._free = list(self._names)
        self._held: dict[str, int] = dict.fromkeys(self._names, 0)
        self._freed = freed
        self._released = threading.Event()  # any release: for waiting out a drain
        #: job id -> slot name of each job started and not yet finished.
        self.current: dict[str, str] = {}

    @property
    def size(self) -> int:
        """Number of slots."""
        return len(self._names)

    @property
    def busy(self) -> int:
        """Number of slots holding a job."""
        with self._lock:
            return len(self._names) - len(self._free)

    def free_names(self) -> list[str]:
        """The free slots, lowest number first."""
        with self._lock:
            return list(self._free)

    def take(self, name: str) -> None:
        """A job was claimed for slot ``name``."""
        with self._lock:
            if name in self._free:
                self._free.remove(name)
            self._held[name] += 1

    def started(self, name: str, job_id: str) -> None:
        """The job ``job_id`` started on slot ``name``."""
        with self._lock:
            self.current[job_id] = name

    def release(self, name: str, job_id: str | None) -> None:
        """The job of slot ``name`` ended (or was never started); the slot is free
        unless it holds a next job already."""
        with self._lock:
            if job_id is not None:
                self.current.pop(job_id, None)
            self._held[name] -= 1
            free = self._held[name] == 0
            if free:
                self._free.append(name)
                self._free.sort(key=_slot_number)
        self._released.set()
        if free:
            self._freed.set()

    def wait_freed(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for a job to end."""
        if self._released.wait(timeout):
            self._released.clear()

    def snapshot(self) -> dict[str, str]:
        """What each busy slot runs now: slot name -> job id."""
        with self._lock:
            return {name: job_id for job_id, name in self.current.items()}


def _slot_number(name: str) -> int:
    return int(name.rsplit(":a", 1)[1])
