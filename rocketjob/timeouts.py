"""Soft time limits: :class:`rocketjob.JobTimeout` raised inside a running job's thread.

Python has no way to stop a thread from outside; ``PyThreadState_SetAsyncExc`` (through
ctypes) asks the interpreter to raise an exception in another thread at its next
bytecode. It interrupts Python code (a loop, a chain of calls), but not a blocking C call
(``time.sleep``, a socket read without timeout, a C extension's computation) until that
call returns to the interpreter: that is why a job still running ``[worker] timeout_grace``
seconds after its
limit has its whole process killed and replaced by the supervisor (see
:mod:`rocketjob.runboard`), and why the hard limit does not depend on this module.

One watchdog thread per worker process sleeps until the nearest limit. :func:`limit` is
the context manager the executor puts around ``perform``; the exception is only ever
raised while the job is inside it (arming, firing and disarming share one lock, and a
pending exception is cleared on the way out), so the executor's own bookkeeping after
``perform`` is never interrupted.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import os
import signal
import threading
import time
from threading import get_ident
from types import TracebackType

from rocketjob.errors import JobTimeout, ValidationError

_set_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)
#: The same function with NULL as the exception: clears a pending one.
_clear_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)


class _Armed:
    """One job's limit: which thread, until when, and whether it fired."""

    __slots__ = ("deadline", "done", "fired", "job_id", "reason", "thread_id")

    thread_id: int
    deadline: float
    fired: bool
    done: bool
    reason: str
    job_id: str


class Watchdog:
    """Raises JobTimeout in job threads that pass their deadline (one per process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, _Armed]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self.fired = 0

    def schedule(self, armed: _Armed, seconds: float) -> None:
        """Raise JobTimeout in ``armed``'s thread after ``seconds``."""
        armed.deadline = time.monotonic() + seconds
        with self._lock:
            heapq.heappush(self._heap, (armed.deadline, next(self._order), armed))
            self._start()
            self._wake.notify()

    def interrupt(self, armed: _Armed, reason: str) -> None:
        """Fire ``armed`` now (``job.abort()`` of a running job)."""
        with self._lock:
            if not armed.done and not armed.fired:
                armed.reason = reason
                self._fire(armed)

    def disarm(self, armed: _Armed) -> None:
        """The job left ``perform``: never raise in its thread from now on."""
        with self._lock:
            armed.done = True
            if armed.fired:  # raised, maybe not delivered yet: drop it if still pending
                _clear_async_exc(armed.thread_id, None)

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="rocketjob-watchdog",
                                            daemon=True)  # fmt: skip
            self._thread.start()

    def _loop(self) -> None:
        # Process signals are never this thread's: a supervisor's signalfd, or Python's
        # handlers, see them as if it did not exist.
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        with self._lock:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:  # nothing armed: end; the next schedule() starts one
                    self._thread = None
                    return
                deadline, _, armed = self._heap[0]
                delay = deadline - time.monotonic()
                if delay > 0:
                    self._wake.wait(min(delay, 60.0))
                    continue
                heapq.heappop(self._heap)
                if not armed.fired:
                    self._fire(armed)

    def _fire(self, armed: _Armed) -> None:
        """With the lock held: raise JobTimeout in the job's thread."""
        armed.fired = True
        self.fired += 1
        _set_async_exc(armed.thread_id, JobTimeout)


#: Job threads' armed limits, by thread id, for interrupting a running job (abort).
_current: dict[int, _Armed] = {}
_watchdog = Watchdog()


def _after_fork() -> None:
    """A forked child has no watchdog thread and no running job: start afresh."""
    global _watchdog
    _watchdog = Watchdog()
    _current.clear()


os.register_at_fork(after_in_child=_after_fork)


def watchdog() -> Watchdog:
    """This process's watchdog."""
    return _watchdog


class limit(_Armed):
    """``with limit(seconds, reason):`` runs the body with a time limit: JobTimeout is
    raised in it after ``seconds`` (None: no limit, unless interrupted). A body that
    swallowed the JobTimeout still ends with one. A class, not a generator: it wraps
    every job, and costs about 1 µs without a limit."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float | None, reason: str, job_id: str = "") -> None:
        self.seconds, self.reason, self.job_id = seconds, reason, job_id
        self.deadline = 0.0
        self.fired = self.done = False

    def __enter__(self) -> None:
        self.thread_id = get_ident()
        if self.seconds is not None:
            _watchdog.schedule(self, self.seconds)
        _current[self.thread_id] = self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        del _current[self.thread_id]
        if self.deadline or self.fired:
            _watchdog.disarm(self)
        else:
            self.done = True
            if self.fired:  # interrupted just now (abort): drop a pending exception
                _watchdog.disarm(self)
        if self.fired and (kind is None or kind is JobTimeout):
            # ours (the raised one has no message), or swallowed by the job: a timeout
            raise JobTimeout(self.reason) from None


def interrupt_thread(thread_id: int, job_id: str, reason: str) -> bool:
    """Raise JobTimeout(``reason``) now in job ``job_id`` if it still runs on
    ``thread_id`` under :func:`limit`; False otherwise (it ended, or the thread runs
    another job by now)."""
    armed = _current.get(thread_id)
    if armed is None or armed.job_id != job_id:
        return False
    watchdog().interrupt(armed, reason)
    return True


def check_timeout(value: object, where: str) -> None:
    """Raise ValidationError unless ``value`` is None or a number of seconds above 0."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValidationError(
            f"{where} must be a number of seconds greater than 0 (or None for no limit), "
            f"got {value!r}"
        )
