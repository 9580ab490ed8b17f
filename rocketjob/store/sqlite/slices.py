"""SQLite store: the slices of batch jobs (a mixin of :class:`SQLiteStore`; the contract
is :mod:`rocketjob.store.slices`).

* Table ``slices`` keyed by ``(job_id, number)`` (WITHOUT ROWID: a slice is read and
  written by its key), an index on ``(job_id, state, number)`` for claims and counts, one
  on ``server_name`` for a dead server's running slices, and a trigger deleting a job's
  slices with the job (``delete_job``, ``delete_jobs``, a destroyed finish).
* Created on first use (``CREATE ... IF NOT EXISTS``), so stores made before batch jobs
  existed gain the table without a schema version of their own.
* An upload is one ``BEGIN IMMEDIATE`` transaction: the job row, then ``executemany``
  over the stream of slices. Other writers wait for it (up to ``busy_timeout``); a
  1,000,000-record upload holds the lock for a few seconds (docs/batch.md).
* Claims first look (no lock) for an opened job with a queued slice, so idle workers
  polling for slices cost no write transaction.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rocketjob import codec
from rocketjob.store.base import JobDoc
from rocketjob.store.slices import NewSlice, SliceDoc, server_of
from rocketjob.store.sqlite.connection import Database
from rocketjob.store.sqlite.rows import from_micros, insert_job_rows, job_to_row, placeholders
from rocketjob.store.sqlite.rows import to_micros as _micros
from rocketjob.store.sqlite.wake import Wakeups

_TABLE = """
CREATE TABLE IF NOT EXISTS slices (
    job_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    state TEXT NOT NULL,
    first_record INTEGER NOT NULL,
    record_count INTEGER NOT NULL,
    records TEXT NOT NULL,
    output TEXT,
    failure TEXT,
    worker_name TEXT,
    server_name TEXT,
    started_at INTEGER,
    completed_at INTEGER,
    PRIMARY KEY (job_id, number)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS slices_state ON slices (job_id, state, number);
CREATE INDEX IF NOT EXISTS slices_server ON slices (server_name) WHERE state = 'running';
CREATE TRIGGER IF NOT EXISTS jobs_delete_slices AFTER DELETE ON jobs
BEGIN DELETE FROM slices WHERE job_id = OLD.id; END
"""
_COLUMNS = ("job_id", "number", "state", "first_record", "record_count", "records", "output",
            "failure", "worker_name", "server_name", "started_at", "completed_at")  # fmt: skip
_PAGE_COLUMNS = ("job_id", "number", "state", "first_record", "record_count", "output",
                 "failure")  # fmt: skip
_INSERT = (
    "INSERT INTO slices (job_id, number, state, first_record, record_count, records) "
    "VALUES (?, ?, 'queued', ?, ?, ?)"
)
_OPENED = (
    "SELECT j.id, j.job_class FROM jobs j WHERE j.state = 'running' AND j.worker_name IS NULL"
    " AND j.job_class IN ({}) AND EXISTS (SELECT 1 FROM slices s WHERE s.job_id = j.id"
    " AND s.state = 'queued') ORDER BY j.priority, j.id"
)
_REQUEUE = (
    "UPDATE slices SET state = 'queued', worker_name = NULL, server_name = NULL,"
    " started_at = NULL WHERE state = 'running' AND server_name = ?"
)


def slice_from_row(row: Sequence[Any], columns: Sequence[str] = _COLUMNS) -> SliceDoc:
    """A slice document from a row of ``columns``."""
    doc = dict(zip(columns, row, strict=True))
    if doc.get("failure") is not None:
        doc["failure"] = codec.loads(doc["failure"])
    for name in ("started_at", "completed_at"):
        if name in doc:
            doc[name] = from_micros(doc[name])
    return doc


class SQLiteSlices:
    """Batch job slices on SQLite (see the module docstring)."""

    _db: Database  # the store's (rocketjob.store.sqlite.connection)
    _wakeups: Wakeups
    _slices_ready = False

    def _slices(self) -> None:
        """Create the slices table, its indexes and trigger once per store."""
        if not self._slices_ready:
            rows = self._db.query("SELECT 1 FROM sqlite_master WHERE name = 'jobs_delete_slices'")
            if not rows:
                self._db.write(_create_slices)
            self._slices_ready = True

    def insert_batch_job(self, doc: JobDoc, slices: Iterable[NewSlice]) -> int:
        self._slices()
        job_id = doc["id"]
        rows = ((job_id, s.number, s.first_record, s.record_count, s.records) for s in slices)

        def run(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.executemany(_INSERT, rows)
            count = conn.total_changes - before
            insert_job_rows(conn, [job_to_row(doc)])  # last: the stream may complete doc
            return count

        count: int = self._db.write(run)
        self._wakeups.nudge()
        return count

    def claim_slices(
        self,
        worker_names: Sequence[str],
        job_classes: Sequence[str],
        now: dt.datetime,
        limits: Mapping[str, int],
    ) -> list[SliceDoc]:
        if not worker_names or not job_classes:
            return []
        self._slices()
        opened = _OPENED.format(placeholders(len(job_classes)))
        if not self._db.query(opened + " LIMIT 1", list(job_classes)):
            return []  # nothing to claim: no write transaction

        def run(conn: sqlite3.Connection) -> list[SliceDoc]:
            claimed: list[SliceDoc] = []
            names = list(worker_names)
            for job_id, job_class in conn.execute(opened, list(job_classes)).fetchall():
                take = _room(conn, job_id, limits.get(job_class, 0), len(names))
                numbers = conn.execute(
                    "SELECT number FROM slices WHERE job_id = ? AND state = 'queued'"
                    " ORDER BY number LIMIT ?",
                    (job_id, take),
                ).fetchall()
                for (number,) in numbers:
                    claimed.append(_claim_one(conn, job_id, number, names.pop(0), now))
                if not names:
                    break
            return claimed

        result: list[SliceDoc] = self._db.write(run)
        return result

    def finish_slice(
        self, job_id: str, number: int, worker_name: str, changes: Mapping[str, Any]
    ) -> bool:
        self._slices()
        sql, args = _finish(job_id, number, worker_name, changes)
        written = self._db.write(lambda conn: conn.execute(sql, args).rowcount, one_statement=True)
        return bool(written)

    def finish_and_claim_slice(
        self,
        job_id: str,
        number: int,
        worker_name: str,
        changes: Mapping[str, Any],
        now: dt.datetime,
        limit: int,
    ) -> tuple[bool, SliceDoc | None]:
        self._slices()
        sql, args = _finish(job_id, number, worker_name, changes)

        def run(conn: sqlite3.Connection) -> tuple[bool, SliceDoc | None]:
            if not conn.execute(sql, args).rowcount:
                return False, None
            if not conn.execute(_STILL_OPEN, (job_id,)).fetchone():
                return True, None
            if not _room(conn, job_id, limit, 1):
                return True, None
            row = conn.execute(_NEXT, (job_id,)).fetchone()
            if row is None:
                return True, None
            return True, _claim_one(conn, job_id, row[0], worker_name, now)

        result: tuple[bool, SliceDoc | None] = self._db.write(run)
        return result

    def count_slices(self, job_id: str) -> dict[str, int]:
        self._slices()
        rows = self._db.query(
            "SELECT state, COUNT(*) FROM slices WHERE job_id = ? GROUP BY state", (job_id,)
        )
        return {state: count for state, count in rows if count}

    def failed_slices(self, job_id: str) -> list[SliceDoc]:
        self._slices()
        rows = self._db.query(
            f"SELECT {', '.join(_COLUMNS)} FROM slices WHERE job_id = ? AND state = 'failed'"
            " ORDER BY number",
            (job_id,),
        )
        return [slice_from_row(row) for row in rows]

    def read_slices(self, job_id: str, after: int, limit: int) -> list[SliceDoc]:
        self._slices()
        rows = self._db.query(
            f"SELECT {', '.join(_PAGE_COLUMNS)} FROM slices WHERE job_id = ? AND number > ?"
            " ORDER BY number LIMIT ?",
            (job_id, after, limit),
        )
        return [slice_from_row(row, _PAGE_COLUMNS) for row in rows]

    def retry_slices(self, job_id: str) -> int:
        self._slices()
        sql = (
            "UPDATE slices SET state = 'queued', completed_at = NULL"
            " WHERE job_id = ? AND state = 'failed'"
        )
        count: int = self._db.write(lambda conn: conn.execute(sql, (job_id,)).rowcount)
        return count

    def requeue_slices(self, server_name: str) -> int:
        self._slices()
        count: int = self._db.write(lambda conn: conn.execute(_REQUEUE, (server_name,)).rowcount)
        if count:
            self._wakeups.nudge()
        return count

    def requeue_orphan_slices(self) -> int:
        self._slices()
        sql = _REQUEUE.replace("server_name = ?", "server_name NOT IN (SELECT name FROM servers)")
        count: int = self._write(lambda conn: conn.execute(sql).rowcount)
        if count:
            self._wakeups.nudge()
        return count

    def delete_slices(self, job_id: str) -> int:
        self._slices()
        sql = "DELETE FROM slices WHERE job_id = ?"
        count: int = self._db.write(lambda conn: conn.execute(sql, (job_id,)).rowcount)
        return count

    def take_batch_job(self, job_id: str, worker_name: str) -> bool:
        sql = (
            "UPDATE jobs SET worker_name = ?, server_name = ? WHERE id = ?"
            " AND state = 'running' AND worker_name IS NULL"
        )
        args = (worker_name, server_of(worker_name), job_id)
        written = self._db.write(lambda conn: conn.execute(sql, args).rowcount, one_statement=True)
        return bool(written)


_STILL_OPEN = "SELECT 1 FROM jobs WHERE id = ? AND state = 'running' AND worker_name IS NULL"
_NEXT = "SELECT number FROM slices WHERE job_id = ? AND state = 'queued' ORDER BY number LIMIT 1"


def _finish(
    job_id: str, number: int, worker_name: str, changes: Mapping[str, Any]
) -> tuple[str, tuple[Any, ...]]:
    """The compare-and-set UPDATE of a slice's outcome and its parameters."""
    values = {**changes, "worker_name": None, "server_name": None}
    sets = ", ".join(f"{name} = ?" for name in values)
    params = [_column(name, value) for name, value in values.items()]
    sql = (
        f"UPDATE slices SET {sets} WHERE job_id = ? AND number = ? AND state = 'running'"
        " AND worker_name = ?"
    )
    return sql, (*params, job_id, number, worker_name)


def _create_slices(conn: sqlite3.Connection) -> None:
    for statement in _TABLE.split(";\n"):
        if statement.strip():
            conn.execute(statement)


def _room(conn: sqlite3.Connection, job_id: str, limit: int, wanted: int) -> int:
    """How many more slices of the job may be claimed now (its class's limit, if any)."""
    if limit <= 0:
        return wanted
    (running,) = conn.execute(
        "SELECT COUNT(*) FROM slices WHERE job_id = ? AND state = 'running'", (job_id,)
    ).fetchone()
    return max(0, min(wanted, limit - int(running)))


def _claim_one(
    conn: sqlite3.Connection, job_id: str, number: int, worker: str, now: dt.datetime
) -> SliceDoc:
    row = conn.execute(
        "UPDATE slices SET state = 'running', worker_name = ?, server_name = ?, started_at = ?"
        f" WHERE job_id = ? AND number = ? RETURNING {', '.join(_COLUMNS)}",
        (worker, server_of(worker), _micros(now), job_id, number),
    ).fetchone()
    return slice_from_row(row)


def _column(name: str, value: Any) -> Any:
    if name in ("started_at", "completed_at"):
        return _micros(value)
    if name == "failure":
        return None if value is None else codec.dumps(value)
    return value
