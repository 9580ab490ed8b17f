"""PostgreSQL store: the slices of batch jobs (:class:`Slices`, a collaborator of
:class:`PostgresStore` given its typed pool; the contract is :mod:`rocketjob.store.slices`).

* Table ``rocketjob_slices`` keyed by ``(job_id, number)`` with a foreign key to the job
  ``ON DELETE CASCADE``: deleting a job (any path) deletes its slices. Created on first
  use under a transaction-level advisory lock (racing processes create it once).
* An upload is one transaction: ``COPY ... FROM STDIN`` fed from the stream of slices
  (the fastest bulk path; nothing is held in memory), then the job's INSERT (the foreign
  key is deferred to the commit).
* Claims lock the slices they take with ``FOR UPDATE SKIP LOCKED`` (racing workers skip
  each other's rows); a job whose class has a limit is locked first (``FOR UPDATE`` on
  its row), so counting its running slices and claiming are one serialised step.
* Records and output are ``text`` (JSON written by the codec): never parsed here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
import psycopg
from psycopg import sql

from rocketjob.store.base import JobDoc
from rocketjob.store.postgres.connection import Database
from rocketjob.store.postgres.connection import translated as _translated
from rocketjob.store.postgres.schema import JOB_COLUMNS, to_param
from rocketjob.store.slices import NewSlice, SliceDoc, server_of

Conn = psycopg.Connection[Any]

_TABLE = """
CREATE TABLE IF NOT EXISTS {slices} (
    job_id text NOT NULL REFERENCES {jobs} (id) ON DELETE CASCADE
        DEFERRABLE INITIALLY DEFERRED,
    number integer NOT NULL,
    state text NOT NULL,
    first_record bigint NOT NULL,
    record_count integer NOT NULL,
    records text NOT NULL,
    output text,
    failure text,
    worker_name text,
    server_name text,
    started_at timestamptz,
    completed_at timestamptz,
    crash_count integer NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, number)
);
CREATE INDEX IF NOT EXISTS rocketjob_slices_queued ON {slices} (job_id, number)
    WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS rocketjob_slices_server ON {slices} (server_name)
    WHERE state = 'running';
CREATE INDEX IF NOT EXISTS rocketjob_slices_suspects ON {slices} (job_id, state, number)
    WHERE crash_count > 0
"""
_COLUMNS = ("job_id", "number", "state", "first_record", "record_count", "records", "output",
            "failure", "worker_name", "server_name", "started_at", "completed_at",
            "crash_count")  # fmt: skip
_PAGE_COLUMNS = ("job_id", "number", "state", "first_record", "record_count", "output",
                 "failure", "crash_count")  # fmt: skip


def slice_from_row(row: Sequence[Any], columns: Sequence[str] = _COLUMNS) -> SliceDoc:
    """A slice document from a row of ``columns``."""
    doc = dict(zip(columns, row, strict=True))
    if doc.get("failure") is not None:
        doc["failure"] = orjson.loads(doc["failure"])
    return doc


def _cols(columns: Sequence[str], prefix: str | None = None) -> sql.Composable:
    if prefix is None:
        return sql.SQL(", ").join(map(sql.Identifier, columns))
    return sql.SQL(", ").join(sql.Identifier(prefix, name) for name in columns)


class Slices:
    """Batch job slices on PostgreSQL (see the module docstring), in the store's pool
    ``db``."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._ready = False  # the table is known to exist

    @property
    def _slices(self) -> sql.Composable:
        """The slices table, created on first use."""
        if not self._ready:
            self._create_slices()
        return sql.SQL("{}.rocketjob_slices").format(sql.Identifier(self._db.opts.schema))

    @property
    def _table(self) -> sql.Composable:
        """The slices table, not created when missing (requeues at a worker's exit)."""
        return sql.SQL("{}.rocketjob_slices").format(sql.Identifier(self._db.opts.schema))

    def _create_slices(self) -> None:
        slices = sql.SQL("{}.rocketjob_slices").format(sql.Identifier(self._db.opts.schema))
        with self._db.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                         (f"rocketjob:slices:{self._db.opts.schema}",))  # fmt: skip
            missing = conn.execute(
                "SELECT 1 FROM information_schema.tables t WHERE t.table_schema = %s AND"
                " t.table_name = 'rocketjob_slices' AND NOT EXISTS (SELECT 1 FROM"
                " information_schema.columns c WHERE c.table_schema = t.table_schema AND"
                " c.table_name = t.table_name AND c.column_name = 'crash_count')",
                (self._db.opts.schema,),
            ).fetchone()
            if missing:  # made before slices counted crashes
                conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN crash_count integer NOT NULL"
                                     " DEFAULT 0").format(slices))  # fmt: skip
            for statement in _TABLE.split(";\n"):
                conn.execute(sql.SQL(statement).format(slices=slices, jobs=self._db.jobs))
        self._ready = True

    @_translated
    def insert_batch_job(self, doc: JobDoc, slices: Iterable[NewSlice]) -> int:
        table = self._slices
        insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            self._db.jobs,
            _cols(JOB_COLUMNS),
            sql.SQL(", ").join(sql.Placeholder() * len(JOB_COLUMNS)),
        )
        copy = sql.SQL(
            "COPY {} (job_id, number, state, first_record, record_count, records) FROM STDIN"
        ).format(table)
        job_id, count = doc["id"], 0
        with self._db.transaction() as conn:
            conn.execute("SET LOCAL statement_timeout = 0")  # an upload may take minutes
            with conn.cursor().copy(copy) as sink:
                for piece in slices:
                    sink.write_row((job_id, piece.number, "queued", piece.first_record,
                                    piece.record_count, piece.records))  # fmt: skip
                    count += 1
            # the job last: ``doc`` may be completed by the stream (record counts); the
            # foreign key is checked at commit (DEFERRABLE INITIALLY DEFERRED)
            conn.execute(insert, [to_param(n, doc.get(n)) for n in JOB_COLUMNS])
            conn.execute("SELECT pg_notify(%s, '')", (self._db.channel,))
        return count

    @_translated
    def insert_slices(self, job_id: str, slices: Iterable[NewSlice]) -> int:
        copy = sql.SQL(
            "COPY {} (job_id, number, state, first_record, record_count, records) FROM STDIN"
        ).format(self._slices)
        count = 0
        with self._db.transaction() as conn:
            conn.execute("SET LOCAL statement_timeout = 0")  # a large input may take minutes
            with conn.cursor().copy(copy) as sink:
                for piece in slices:
                    sink.write_row((job_id, piece.number, "queued", piece.first_record,
                                    piece.record_count, piece.records))  # fmt: skip
                    count += 1
        return count

    @_translated
    def claim_slices(
        self,
        worker_names: Sequence[str],
        job_classes: Sequence[str],
        now: dt.datetime,
        limits: Mapping[str, int],
    ) -> list[SliceDoc]:
        if not worker_names or not job_classes:
            return []
        table = self._slices
        opened = sql.SQL(
            "SELECT j.id, j.job_class FROM {jobs} j WHERE j.state = 'running'"
            " AND j.worker_name IS NULL AND j.job_class = ANY(%s) AND EXISTS (SELECT 1 FROM"
            " {slices} s WHERE s.job_id = j.id AND s.state = 'queued') ORDER BY j.priority, j.id"
        ).format(jobs=self._db.jobs, slices=table)
        with self._db.single() as conn:
            jobs = conn.execute(opened, (list(job_classes),)).fetchall()
        if not jobs:
            return []
        names, claimed = list(worker_names), []
        with self._db.transaction() as conn:
            for job_id, job_class in jobs:
                take = self._room(conn, job_id, limits.get(job_class, 0), len(names))
                if take:
                    got = self._claim_of(conn, job_id, names[:take], now)
                    claimed += got
                    names = names[len(got) :]
                if not names:
                    break
        return claimed

    def _room(self, conn: Conn, job_id: str, limit: int, wanted: int) -> int:
        if limit <= 0:
            return wanted
        conn.execute(sql.SQL("SELECT 1 FROM {} WHERE id = %s FOR UPDATE").format(self._db.jobs),
                     (job_id,))  # fmt: skip
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE job_id = %s AND state = 'running'").format(
                self._slices
            ),
            (job_id,),
        ).fetchone()
        return max(0, min(wanted, limit - (row[0] if row else 0)))

    def _claim_of(
        self, conn: Conn, job_id: str, workers: list[str], now: dt.datetime
    ) -> list[SliceDoc]:
        """Claim up to ``len(workers)`` queued slices of one job, in number order."""
        # Unblamed slices, and the first suspect (a slice with crashes) when none of the
        # job's suspects runs (rocketjob.batch.crashes).
        statement = sql.SQL(
            "WITH suspect AS (SELECT number FROM {s} WHERE job_id = %(job)s AND state = 'queued'"
            " AND crash_count > 0 AND NOT EXISTS (SELECT 1 FROM {s} WHERE job_id = %(job)s"
            " AND state = 'running' AND crash_count > 0) ORDER BY number LIMIT 1),"
            " locked AS (SELECT number FROM {s} WHERE job_id = %(job)s AND state = 'queued'"
            " AND (crash_count = 0 OR number IN (SELECT number FROM suspect))"
            " ORDER BY number LIMIT %(limit)s FOR UPDATE SKIP LOCKED),"
            " picked AS (SELECT number, row_number() OVER (ORDER BY number) AS n FROM locked)"
            " UPDATE {s} AS t SET state = 'running',"
            " worker_name = (%(workers)s::text[])[picked.n], server_name = %(server)s,"
            " started_at = %(now)s FROM picked WHERE t.job_id = %(job)s"
            " AND t.number = picked.number RETURNING {cols}"
        ).format(s=self._slices, cols=_cols(_COLUMNS, "t"))
        params = {"job": job_id, "limit": len(workers), "workers": workers,
                  "server": server_of(workers[0]), "now": now}  # fmt: skip
        rows = conn.execute(statement, params).fetchall()
        return sorted((slice_from_row(row) for row in rows), key=lambda doc: doc["number"])

    def _finish(
        self, job_id: str, number: int, worker_name: str, changes: Mapping[str, Any]
    ) -> tuple[sql.Composed, list[Any]]:
        values = {**changes, "worker_name": None, "server_name": None}
        if values.get("failure") is not None:
            values["failure"] = orjson.dumps(values["failure"]).decode()
        sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(n)) for n in values)
        statement = sql.SQL(
            "UPDATE {} SET {} WHERE job_id = %s AND number = %s AND state = 'running'"
            " AND worker_name = %s"
        ).format(self._slices, sets)
        return statement, [*values.values(), job_id, number, worker_name]

    @_translated
    def finish_slice(
        self, job_id: str, number: int, worker_name: str, changes: Mapping[str, Any]
    ) -> bool:
        statement, params = self._finish(job_id, number, worker_name, changes)
        with self._db.single() as conn:
            return conn.execute(statement, params).rowcount > 0

    @_translated
    def finish_and_claim_slice(
        self,
        job_id: str,
        number: int,
        worker_name: str,
        changes: Mapping[str, Any],
        now: dt.datetime,
        limit: int,
    ) -> tuple[bool, SliceDoc | None]:
        statement, params = self._finish(job_id, number, worker_name, changes)
        still_open = sql.SQL(
            "SELECT 1 FROM {} WHERE id = %s AND state = 'running' AND worker_name IS NULL"
        ).format(self._db.jobs)
        with self._db.transaction() as conn:
            if conn.execute(statement, params).rowcount == 0:
                return False, None
            if conn.execute(still_open, (job_id,)).fetchone() is None:
                return True, None
            if not self._room(conn, job_id, limit, 1):
                return True, None
            claimed = self._claim_of(conn, job_id, [worker_name], now)
        return True, (claimed[0] if claimed else None)

    @_translated
    def count_slices(self, job_id: str) -> dict[str, int]:
        statement = sql.SQL("SELECT state, count(*) FROM {} WHERE job_id = %s GROUP BY state")
        with self._db.single() as conn:
            rows = conn.execute(statement.format(self._slices), (job_id,)).fetchall()
        return {state: int(count) for state, count in rows if count}

    @_translated
    def failed_slices(self, job_id: str) -> list[SliceDoc]:
        statement = sql.SQL(
            "SELECT {} FROM {} WHERE job_id = %s AND state = 'failed' ORDER BY number"
        ).format(_cols(_COLUMNS), self._slices)
        with self._db.single() as conn:
            return [slice_from_row(row) for row in conn.execute(statement, (job_id,))]

    @_translated
    def read_slices(self, job_id: str, after: int, limit: int) -> list[SliceDoc]:
        statement = sql.SQL(
            "SELECT {} FROM {} WHERE job_id = %s AND number > %s ORDER BY number LIMIT %s"
        ).format(_cols(_PAGE_COLUMNS), self._slices)
        with self._db.single() as conn:
            rows = conn.execute(statement, (job_id, after, limit)).fetchall()
        return [slice_from_row(row, _PAGE_COLUMNS) for row in rows]

    @_translated
    def retry_slices(self, job_id: str) -> int:
        statement = sql.SQL(
            "UPDATE {} SET state = 'queued', completed_at = NULL, crash_count = 0"
            " WHERE job_id = %s AND state = 'failed'"
        ).format(self._slices)
        with self._db.single() as conn:
            return conn.execute(statement, (job_id,)).rowcount

    @_translated
    def requeue_slices(self, server_name: str) -> int:
        statement = sql.SQL(
            "UPDATE {} SET state = 'queued', worker_name = NULL, server_name = NULL,"
            " started_at = NULL WHERE state = 'running' AND server_name = %s"
        ).format(self._table)
        with self._db.single() as conn:
            try:
                count: int = conn.execute(statement, (server_name,)).rowcount
            except psycopg.errors.UndefinedTable:  # no batch job yet: nothing to requeue
                return 0
            if count:
                conn.execute("SELECT pg_notify(%s, '')", (self._db.channel,))
        return count

    @_translated
    def requeue_orphan_slices(self) -> int:
        servers = sql.SQL("{}.rocketjob_servers").format(sql.Identifier(self._db.opts.schema))
        statement = sql.SQL(
            "UPDATE {} SET state = 'queued', worker_name = NULL, server_name = NULL,"
            " started_at = NULL WHERE state = 'running'"
            " AND server_name NOT IN (SELECT name FROM {})"
        ).format(self._table, servers)
        with self._db.single() as conn:
            try:
                count: int = conn.execute(statement).rowcount
            except psycopg.errors.UndefinedTable:  # no batch job yet: nothing to requeue
                return 0
            if count:
                conn.execute("SELECT pg_notify(%s, '')", (self._db.channel,))
        return count

    @_translated
    def delete_slices(self, job_id: str) -> int:
        statement = sql.SQL("DELETE FROM {} WHERE job_id = %s").format(self._slices)
        with self._db.single() as conn:
            return conn.execute(statement, (job_id,)).rowcount

    @_translated
    def take_batch_job(self, job_id: str, worker_name: str) -> bool:
        statement = sql.SQL(
            "UPDATE {} SET worker_name = %s, server_name = %s WHERE id = %s"
            " AND state = 'running' AND worker_name IS NULL"
        ).format(self._db.jobs)
        with self._db.single() as conn:
            cursor = conn.execute(statement, (worker_name, server_of(worker_name), job_id))
            return cursor.rowcount > 0
