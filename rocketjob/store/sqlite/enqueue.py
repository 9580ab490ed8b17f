"""Group commit of concurrent enqueues on the SQLite store.

At ``synchronous=full`` every commit waits for an ``fdatasync`` of the WAL (about 0.1 ms
on the development VM), so threads of one process that enqueue one job each at the same
time (a threaded web server) would queue for one fsync per job. Instead the first thread
to arrive writes its rows; threads arriving while it writes queue theirs, and the next of
them writes everything queued in one transaction, one fsync for all.

Each caller's rows stay all or none on their own: when a transaction holds several
callers, each gets a ``SAVEPOINT``, so a duplicate singleton fails only its own caller.
When the transaction itself fails, or the writing thread is interrupted, every caller in
it gets an error: none is told its jobs were stored unless the commit succeeded. A caller
interrupted while it waits (KeyboardInterrupt) withdraws its rows if they are still
queued, and passes the lead on if it had just been handed it. A lone enqueue is one plain
transaction, and a lone enqueue of one job is a single INSERT in SQLite's implicit one.
"""

from __future__ import annotations

import copy
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any

from rocketjob.errors import StoreError
from rocketjob.store.sqlite.rows import insert_job_rows

#: ``store._write``: runs ``fn(conn)`` in one transaction (``one_statement``: SQLite's
#: implicit one, for a single statement).
Write = Callable[..., Any]


class _Entry:
    """One caller's rows and, once written, its outcome. ``wake`` is held until the caller
    may go on: its rows were written (``done``) or it is to write the queue (``lead``)."""

    __slots__ = ("done", "error", "lead", "rows", "wake")

    def __init__(self, rows: Sequence[Sequence[Any]]) -> None:
        self.rows = rows
        self.done = self.lead = False
        self.error: BaseException | None = None
        self.wake = threading.Lock()
        self.wake.acquire()


class EnqueueCommitter:
    """Writes concurrent ``insert`` calls of one store in shared transactions."""

    def __init__(self, write: Write, translate: Callable[[sqlite3.IntegrityError], Exception]):
        self._write = write
        self._translate = translate  # an IntegrityError as the store reports it
        self._lock = threading.Lock()
        self._queue: list[_Entry] = []
        self._writing = False
        self.transactions = 0  # for tests and benchmarks
        self.largest = 0  # the most callers one transaction held

    def insert(self, rows: Sequence[Sequence[Any]]) -> None:
        """Store ``rows`` (one caller's, all or none); return once committed."""
        with self._lock:
            alone = not self._writing  # then nobody is waiting either
            self._writing = True
            if not alone:
                entry = _Entry(rows)
                self._queue.append(entry)
        if alone:  # write ours at once, then hand the lead to whoever queued meanwhile
            try:
                self._count(1)
                self._write_rows(rows)
            finally:
                self._finish([])
            return
        if not entry.lead:
            try:
                entry.wake.acquire()  # until written, or handed the lead
            except BaseException:  # a signal's exception (KeyboardInterrupt) while waiting
                self._abandon(entry)
                raise
        if entry.lead:  # write everything queued (ours, unless it was written already)
            batch: list[_Entry] = []
            try:
                with self._lock:
                    batch, self._queue = self._queue, []
                if batch:
                    self.write_batch(batch)
            finally:
                self._finish(batch)
        if entry.error is not None:
            raise entry.error

    def _abandon(self, entry: _Entry) -> None:
        """The caller of ``entry`` stopped waiting: withdraw its rows if they are still
        queued (it is told nothing was stored), and pass the lead on if it had it."""
        with self._lock:
            if entry in self._queue:
                self._queue.remove(entry)
            if not entry.lead:
                return
        self._finish([])

    def _finish(self, batch: list[_Entry]) -> None:
        """Release the batch's callers; hand the lead to the first caller queued since."""
        with self._lock:
            following = self._queue[0] if self._queue else None
            if following is None:
                self._writing = False
            else:
                following.lead = True
        for entry in batch:
            entry.done = True
            if entry is not following and not entry.lead:
                entry.wake.release()
        if following is not None:
            following.wake.release()

    def write_batch(self, batch: list[_Entry]) -> None:
        """One transaction for ``batch``; sets each entry's error (None: stored)."""
        self._count(len(batch))
        try:
            if len(batch) == 1:
                self._write_rows(batch[0].rows)
            else:
                self._write(lambda conn: self._insert_each(conn, batch))
        except Exception as exc:
            # Nothing of this transaction was committed: every caller hears of it.
            for entry in batch:
                entry.error = exc if len(batch) == 1 else copy.copy(exc)
        except BaseException as exc:
            # The writing thread was interrupted (KeyboardInterrupt, SystemExit): it
            # raises that; the callers it wrote for get a StoreError, never a success.
            for entry in batch:
                entry.error = StoreError(f"enqueue not stored: its writer stopped ({exc!r})")
            raise

    def _count(self, callers: int) -> None:
        self.transactions += 1
        self.largest = max(self.largest, callers)

    def _write_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        """One caller's rows in one transaction; a lone row is one autocommit INSERT."""
        self._write(lambda conn: insert_job_rows(conn, rows), one_statement=len(rows) == 1)

    def _insert_each(self, conn: sqlite3.Connection, batch: list[_Entry]) -> None:
        for entry in batch:
            conn.execute("SAVEPOINT enqueue")
            try:
                insert_job_rows(conn, entry.rows)
            except sqlite3.IntegrityError as exc:
                conn.execute("ROLLBACK TO enqueue")
                entry.error = self._translate(exc)
            conn.execute("RELEASE enqueue")
