"""Group commit of concurrent enqueues on the PostgreSQL store.

Every enqueue statement NOTIFYs the workers, and PostgreSQL serialises the commits of
transactions that sent a NOTIFY (a database-wide lock held from before the commit's WAL
flush to its end), so threads of one process that enqueue one job each at the same
time (a threaded web server) queued for one flush each: 8 threads enqueued no faster
than one (docs/performance.md, many threads enqueueing). Instead, as on the SQLite
store (the mechanism both use is :class:`rocketjob.group_commit.GroupInserts`): the first
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
from typing import Any

import psycopg

from rocketjob.group_commit import GroupInserts, Slot
from rocketjob.store.base import JobDoc

#: Runs ``insert(conn, docs)`` on a pooled autocommit connection (``store._single``).
Insert = Callable[[Any, Sequence[JobDoc]], None]
#: One caller's job documents: all or none of them are stored.
Docs = Sequence[JobDoc]


class PostgresEnqueues(GroupInserts[Docs]):
    """Writes concurrent ``insert_jobs`` calls (without ``connection=``) of one store in
    shared statements."""

    def __init__(self, single: Callable[[], Any], insert: Insert) -> None:
        super().__init__()
        self._single = single
        self._insert = insert

    def write_one(self, item: Docs) -> None:
        """One caller's jobs: the store's usual single statement."""
        with self._single() as conn:
            self._insert(conn, item)

    def write_many(self, batch: list[Slot[Docs]]) -> None:
        """Every queued caller's jobs in one statement; after a unique-key failure (none
        of it stored), each caller's on its own, so only the duplicate's caller fails."""
        with self._single() as conn:
            try:
                self._insert(conn, [doc for slot in batch for doc in slot.item])
            except psycopg.errors.UniqueViolation:
                for slot in batch:
                    try:
                        self._insert(conn, slot.item)
                    except psycopg.errors.UniqueViolation as exc:
                        slot.error = exc
