"""Group commit of concurrent enqueues on the PostgreSQL store.

Every enqueue statement NOTIFYs the workers, and PostgreSQL serialises the commits of
transactions that sent a NOTIFY (a database-wide lock held from before the commit's WAL
flush to its end), so threads of one process that enqueue one job each at the same
time (a threaded web server) queued for one flush each: 8 threads enqueued no faster
than one (docs/performance.md, many threads enqueueing). Instead, as on the SQLite
store (:mod:`rocketjob.store.sqlite.enqueue`, whose hand-over this reuses: the mechanism is
:mod:`rocketjob.group_commit`): the first
thread to arrive writes its jobs; threads arriving meanwhile queue theirs, and the next
of them writes everything queued in ONE statement (rows and one NOTIFY), one commit.

Each caller's jobs stay all or none on their own: when the shared statement fails on a
unique key (a duplicate singleton), nothing of it was stored, and each caller's jobs are
written again on their own, so only the duplicate's caller gets the error. Any other
failure is every caller's (none is told its jobs were stored). A lone enqueue is the
store's usual single statement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import psycopg

from rocketjob.group_commit import Slot
from rocketjob.store.base import JobDoc
from rocketjob.store.sqlite.enqueue import EnqueueCommitter, Rows

#: Runs ``insert(conn, docs)`` on a pooled autocommit connection (``store._single``).
Insert = Callable[[Any, Sequence[JobDoc]], None]


class PostgresEnqueues(EnqueueCommitter):
    """Writes concurrent ``insert_jobs`` calls (without ``connection=``) of one store in
    shared statements."""

    def __init__(self, single: Callable[[], Any], insert: Insert) -> None:
        self._single = single
        self._insert = insert
        super().__init__(self._run, lambda exc: exc)

    def _run(self, fn: Callable[[Any], None], one_statement: bool = False) -> None:
        """``fn(conn)`` on a pooled autocommit connection."""
        with self._single() as conn:
            fn(conn)

    def _write_rows(self, rows: Sequence[Any]) -> None:
        """One caller's jobs: the store's usual single statement."""
        self._run(lambda conn: self._insert(conn, rows))

    def _insert_each(self, conn: Any, batch: list[Slot[Rows]]) -> None:
        """Every queued caller's jobs in one statement; after a unique-key failure (none
        of it stored), each caller's on its own, so only the duplicate's caller fails."""
        try:
            self._insert(conn, [doc for entry in batch for doc in _docs(entry)])
        except psycopg.errors.UniqueViolation:
            for entry in batch:
                try:
                    self._insert(conn, _docs(entry))
                except psycopg.errors.UniqueViolation as exc:
                    entry.error = exc


def _docs(entry: Slot[Rows]) -> Sequence[JobDoc]:
    """The job documents a caller queued (the SQLite committer calls them rows)."""
    return cast(Sequence[JobDoc], entry.item)
