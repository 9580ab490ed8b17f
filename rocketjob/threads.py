"""A worker process's pool of job threads, each with a fixed name.

Thread ``N`` of server ``host:pid`` runs jobs as worker ``host:pid:N``. The dispatcher
asks which threads are idle, claims exactly that many jobs, and hands one to each.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from rocketjob.store import JobDoc

_STOP = None


class JobThreads:
    """Named job threads; ``run_job(doc)`` is called on the thread a job was given to."""

    def __init__(self, server_name: str, count: int, run_job: Callable[[JobDoc], None]) -> None:
        self.server_name = server_name
        self._run_job = run_job
        self._lock = threading.Lock()
        self.freed = threading.Event()
        self._idle: list[str] = []
        self._queued: dict[str, int] = {}  # jobs given to a thread and not yet finished
        self._stopping = False
        self._inboxes: dict[str, queue.SimpleQueue[JobDoc | None]] = {}
        self._threads: list[threading.Thread] = []
        self.current: dict[str, str] = {}  # worker name -> job id it runs
        for number in range(1, count + 1):
            self._add(f"{server_name}:{number}")

    def _add(self, name: str) -> None:
        inbox: queue.SimpleQueue[JobDoc | None] = queue.SimpleQueue()
        thread = threading.Thread(
            target=self._loop, args=(name, inbox), name=f"rocketjob-{name}", daemon=True
        )
        self._inboxes[name] = inbox
        self._queued[name] = 0
        self._threads.append(thread)
        self._idle.append(name)
        thread.start()

    def idle_names(self) -> list[str]:
        """Names of the threads with no job, lowest number first."""
        with self._lock:
            return list(self._idle)

    @property
    def size(self) -> int:
        """Number of threads."""
        return len(self._inboxes)

    @property
    def busy(self) -> int:
        """Number of threads running a job."""
        with self._lock:
            return len(self._inboxes) - len(self._idle)

    def assign(self, doc: JobDoc) -> None:
        """Give the claimed job ``doc`` to the thread named in its worker_name: an idle
        thread starts it now; a thread finishing its job (claim ahead) starts it next."""
        name = doc["worker_name"]
        with self._lock:
            if name in self._idle:
                self._idle.remove(name)
            self._queued[name] += 1
        self._inboxes[name].put(doc)

    def _loop(self, name: str, inbox: queue.SimpleQueue[JobDoc | None]) -> None:
        while True:
            doc = inbox.get()
            if doc is _STOP:
                return
            try:
                if not self._stopping:  # at a stop, jobs not started stay for re-queueing
                    with self._lock:
                        self.current[name] = doc["id"]
                    self._run_job(doc)
            finally:
                with self._lock:
                    self.current.pop(name, None)
                    self._queued[name] -= 1
                    idle = not self._queued[name]
                    if idle:
                        self._idle.append(name)
                        self._idle.sort(key=_thread_number)
                if idle:  # a thread with its next job already given stays busy: no wake-up
                    self.freed.set()

    def stop(self) -> None:
        """Ask every thread to exit after its current job (jobs given to it but not
        started are not run: the worker re-queues them)."""
        self._stopping = True
        for inbox in self._inboxes.values():
            inbox.put(_STOP)

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds in total for the threads; True if all exited."""
        import time

        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def idents(self) -> dict[str, int | None]:
        """Thread name -> thread id (to interrupt the job a thread runs)."""
        return {t.name.removeprefix("rocketjob-"): t.ident for t in self._threads}

    def snapshot(self) -> dict[str, Any]:
        """What each busy thread runs now: worker name -> job id."""
        with self._lock:
            return dict(self.current)


def _thread_number(name: str) -> int:
    return int(name.rsplit(":", 1)[1])
