"""Asynchronous delivery: a bounded queue and one thread per appender.

``emit`` only puts the record on the appender's queue (or drops it, counted, when the queue
is full: the caller never waits longer than ``block_timeout``). The delivery thread takes
batches of up to ``batch_size``, hands each to the appender, retries transient failures with
exponential back-off and jitter up to ``max_retries`` times, and counts what it gives up on.
``close(timeout)`` flushes within the deadline and then returns whatever the receiver does:
the thread is a daemon, so a hanging receiver never holds up the process.

Records logged by the delivery thread itself (its own diagnostics, or the stdlib logging of
the client library it calls) are never queued back into the same appender.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from appenders.base import Appender, call_optional, emit_all
from appenders.errors import DeliveryError
from appenders.record import Record

log = logging.getLogger("appenders")

#: How long the idle delivery thread waits for a record before it checks for reopen or stop.
_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class DeliveryOptions:
    """How records reach one appender (the entry keys of the same names)."""

    queue_size: int = 10_000
    batch_size: int = 100
    overflow: str = "drop"  # or "block": wait up to block_timeout for room, then drop
    block_timeout: float = 0.05
    max_retries: int = 5
    retry_backoff: float = 0.2  # first back-off, doubled at every retry
    max_backoff: float = 10.0
    report_interval: float = 30.0  # at most one "dropped" / "failed" warning this often
    linger: float = 0.05  # after a short batch, wait this long for more records


class _Reporter:
    """Rate-limited warnings about failures and drops, from the delivery thread only."""

    def __init__(self, name: str, interval: float, clock: Callable[[], float]) -> None:
        self.name, self.interval, self.clock = name, interval, clock
        self.reported_drops = 0
        self._last: dict[str, float] = {}

    def _due(self, what: str) -> bool:
        now = self.clock()
        last = self._last.get(what)
        if last is not None and now - last < self.interval:
            return False
        self._last[what] = now
        return True

    def failure(self, error: BaseException, attempt: int) -> None:
        """Log a delivery failure, at most once per interval."""
        if self._due("failed"):
            extra = {"appender": self.name, "error": repr(error), "attempt": attempt}
            log.warning("appender delivery failed", extra=extra)

    def drops(self, dropped: int) -> None:
        """Log the drop count when it grew, at most once per interval."""
        if dropped > self.reported_drops and self._due("dropped"):
            new = dropped - self.reported_drops
            self.reported_drops = dropped
            extra = {"appender": self.name, "dropped": dropped, "new": new}
            log.warning("appender dropped records", extra=extra)


class AsyncAppender:
    """Wraps an appender with a bounded queue, a delivery thread, batching and retries."""

    def __init__(
        self,
        target: Appender,
        *,
        name: str,
        levelno: int = 0,
        options: DeliveryOptions | None = None,
        local: bool = False,
        clock: Callable[[], float] = time.monotonic,
        start: bool = True,
    ) -> None:
        self.target, self.name, self.levelno, self.local = target, name, levelno, local
        self.options = options or DeliveryOptions()
        self._clock = clock
        self._queue: queue.Queue[Record] = queue.Queue(self.options.queue_size)
        self._lock = threading.Lock()
        self._dropped = 0
        self._abandoned = False
        self._delivered_batches = 0
        self._stop = threading.Event()
        self._reopen = threading.Event()
        self._deadline = float("inf")
        self._reporter = _Reporter(name, self.options.report_interval, clock)
        self._thread = threading.Thread(target=self._run, name=f"appender:{name}", daemon=True)
        self._ident: int | None = None
        if start:
            self.start()

    # -- the caller's side ----------------------------------------------------------------
    def start(self) -> None:
        """Start the delivery thread (done by the constructor unless ``start=False``)."""
        self._thread.start()
        self._ident = self._thread.ident

    def emit(self, record: Record) -> None:
        """Queue ``record`` if it meets the level; drop it (counted) when the queue stays full
        past the bound."""
        if record.levelno < self.levelno:
            return
        if threading.get_ident() == self._ident or self._stop.is_set():
            return  # the appender's own delivery logging, or a closed appender
        try:
            if self.options.overflow == "block":
                self._queue.put(record, timeout=self.options.block_timeout)
            else:
                self._queue.put_nowait(record)
        except queue.Full:
            self._count_drops(1)

    @property
    def dropped(self) -> int:
        """Records this appender could not deliver (queue full, retries exhausted, closed)."""
        return self._dropped

    @property
    def delivered_batches(self) -> int:
        """How many batches were handed to the appender successfully."""
        return self._delivered_batches

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued record was handled (delivered or dropped), or ``timeout``."""
        deadline = self._clock() + timeout
        q = self._queue
        with q.all_tasks_done:
            while q.unfinished_tasks:
                remaining = deadline - self._clock()
                if remaining <= 0 or not self._thread.is_alive():
                    return False
                q.all_tasks_done.wait(remaining)
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Deliver what is queued within ``timeout`` seconds, then stop; True if all was handled.

        What is still queued at the deadline is counted as dropped.
        """
        if self._ident is None:
            self.start()
        self.begin_close(timeout)
        self._thread.join(max(0.0, min(timeout, self._deadline - self._clock())))
        alive = self._thread.is_alive()
        with self._lock, self._queue.mutex:
            left = self._queue.unfinished_tasks  # past the deadline (or left by a dead thread)
            self._dropped += left
            self._abandoned = self._abandoned or alive  # its later drops are not counted
        return not alive and not left

    def begin_close(self, timeout: float) -> None:
        """Start the final flush, due within ``timeout`` seconds, without waiting for it."""
        self._deadline = min(self._deadline, self._clock() + timeout)
        self._stop.set()

    def reopen(self) -> None:
        """Have the delivery thread reopen the appender (files, after USR1) at its next turn."""
        self._reopen.set()

    def _count_drops(self, n: int) -> None:
        with self._lock:
            if n > 0 and not self._abandoned:
                self._dropped += n

    # -- the delivery thread --------------------------------------------------------------
    def _run(self) -> None:
        self._ident = threading.get_ident()
        while True:
            batch = self._next_batch()
            if self._reopen.is_set():
                self._reopen.clear()
                self._safely("reopen")
            if batch:
                self._deliver(batch)
                for _ in batch:
                    self._queue.task_done()
                if len(batch) < self.options.batch_size:
                    self._stop.wait(self.options.linger)  # fewer wake-ups, fuller batches
            self._reporter.drops(self._dropped)
            if not batch and self._stop.is_set() and self._queue.empty():
                break  # a record queued just before the stop is still delivered
        self._safely("close")

    def _next_batch(self) -> list[Record]:
        try:
            first = self._queue.get(timeout=0 if self._stop.is_set() else _POLL_SECONDS)
        except queue.Empty:
            return []
        batch = [first]
        while len(batch) < self.options.batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _deliver(self, batch: Sequence[Record]) -> None:
        for attempt in range(self.options.max_retries + 1):
            try:
                emit_all(self.target, batch)
                self._delivered_batches += 1
                return
            except Exception as exc:  # documented boundary: counted, reported, retried
                self._reporter.failure(exc, attempt)
                if not self._should_retry(exc, attempt):
                    break
        self._count_drops(len(batch))

    def _should_retry(self, exc: Exception, attempt: int) -> bool:
        """Wait the back-off and return True when another attempt fits before the deadline."""
        if isinstance(exc, DeliveryError) and not exc.transient:
            return False
        if attempt >= self.options.max_retries:
            return False
        delay = min(self.options.max_backoff, self.options.retry_backoff * 2**attempt)
        delay *= random.uniform(0.5, 1.0)  # jitter: processes do not retry in lockstep
        if isinstance(exc, DeliveryError) and exc.retry_after:
            delay = min(max(delay, exc.retry_after), self.options.max_backoff)
        remaining = self._deadline - self._clock()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        return self._deadline - self._clock() > 0

    def _safely(self, method: str) -> None:
        try:
            call_optional(self.target, method)
        except Exception as exc:  # documented boundary: a failing reopen/close is reported
            self._reporter.failure(exc, 0)


class InlineAppender:
    """Runs an appender in the caller's thread (the supervisor: no threads before fork).

    Meant for local destinations (files, streams, the syslog unix socket). Failures are
    counted as drops, never logged here: logging from inside a sink would recurse.
    """

    def __init__(self, target: Appender, *, name: str, levelno: int = 0, local: bool = True):
        self.target, self.name, self.levelno, self.local = target, name, levelno, local
        self._lock = threading.Lock()
        self._dropped = 0
        self.errors = 0  # failed flush / close / reopen calls

    def emit(self, record: Record) -> None:
        """Write ``record`` now; count it as dropped if the appender fails."""
        if record.levelno < self.levelno:
            return
        with self._lock:
            try:
                emit_all(self.target, [record])
            except Exception:  # documented boundary: counted in ``dropped``
                self._dropped += 1

    @property
    def dropped(self) -> int:
        """Records the appender failed to write."""
        return self._dropped

    def flush(self, timeout: float = 5.0) -> bool:
        """Flush the appender (inline writes are already delivered)."""
        return self._call("flush")

    def close(self, timeout: float = 5.0) -> bool:
        """Close the appender."""
        return self._call("close")

    def reopen(self) -> None:
        """Reopen the appender's file or socket."""
        self._call("reopen")

    def _call(self, method: str) -> bool:
        with self._lock:
            try:
                call_optional(self.target, method)
            except Exception:  # documented boundary: counted, as the caller cannot log here
                self.errors += 1
                return False
        return True
