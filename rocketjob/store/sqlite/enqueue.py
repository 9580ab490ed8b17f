"""Group commit of concurrent enqueues on the SQLite store.

At ``synchronous=full`` every commit waits for an ``fdatasync`` of the WAL (about 0.1 ms
on the development VM), so threads of one process that enqueue one job each at the same
time (a threaded web server) would queue for one fsync per job. Instead the first thread
to arrive writes its rows; threads arriving while it writes queue theirs, and the next of
them writes everything queued in one transaction, one fsync for all.

The leader/follower mechanism is :class:`rocketjob.group_commit.GroupInserts` (shared with
the PostgreSQL enqueues, on the worker outcomes' :class:`~rocketjob.group_commit.GroupCommit`);
this module says how a batch of enqueues is written. Each caller's rows stay all or none
on their own: when a transaction holds several callers, each gets a ``SAVEPOINT``, so a
duplicate singleton fails only its own caller. When the transaction itself fails, or the
writing thread is interrupted, every caller in it gets an error; a caller interrupted
while it waits withdraws its rows (see GroupCommit). A lone enqueue is one plain
transaction, and a lone enqueue of one job is a single INSERT in SQLite's implicit one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from rocketjob.group_commit import GroupInserts, Slot
from rocketjob.store.sqlite.rows import insert_job_rows

#: ``store._write``: runs ``fn(conn)`` in one transaction (``one_statement``: SQLite's
#: implicit one, for a single statement).
Write = Callable[..., Any]
#: One caller's rows: all or none of them are stored.
Rows = Sequence[Sequence[Any]]


class EnqueueCommitter(GroupInserts[Rows]):
    """Writes concurrent ``insert`` calls of one store in shared transactions."""

    def __init__(self, write: Write, translate: Callable[[sqlite3.IntegrityError], Exception]):
        super().__init__()
        self._write = write
        self._translate = translate  # an IntegrityError as the store reports it

    def write_one(self, item: Rows) -> None:
        """One caller's rows in one transaction; a lone row is one autocommit INSERT."""
        self._write(lambda conn: insert_job_rows(conn, item), one_statement=len(item) == 1)

    def write_many(self, batch: list[Slot[Rows]]) -> None:
        """Every caller's rows in one transaction, each under a SAVEPOINT of its own."""
        self._write(lambda conn: self._insert_each(conn, batch))

    def _insert_each(self, conn: sqlite3.Connection, batch: list[Slot[Rows]]) -> None:
        for slot in batch:
            conn.execute("SAVEPOINT enqueue")
            try:
                insert_job_rows(conn, slot.item)
            except sqlite3.IntegrityError as exc:
                conn.execute("ROLLBACK TO enqueue")
                slot.error = self._translate(exc)
            conn.execute("RELEASE enqueue")
