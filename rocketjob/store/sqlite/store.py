"""The embedded default store: one SQLite file in WAL mode, shared by many processes.

* WAL journal, ``synchronous=FULL`` by default (``?synchronous=normal`` trades the last
  commits on power loss for speed), a busy timeout (``?busy_timeout=10000`` ms).
* Schema created on first connect under ``BEGIN IMMEDIATE`` and versioned with
  ``PRAGMA user_version``.
* Claiming is one ``BEGIN IMMEDIATE`` transaction: SQLite allows one writer at a time, so
  no two processes can claim the same row. A covering partial index on ``(priority, id,
  job_class, run_at) WHERE state = 'queued'`` serves it in claim order.
* Wake-ups: every commit writes the WAL file, so its size or modification time changes.
  Idle workers ``stat`` it every few milliseconds (no SQL, no lock) and pick new jobs up
  at once; an enqueue in the same process wakes them through an event.

One connection per process, guarded by a lock: SQLite serialises writers anyway.

The store is composed of one module per concern, each given the typed connection
(:class:`rocketjob.store.sqlite.connection.Database`): ``schema`` (DDL, migrations, URL),
``connection`` (transactions, errors), ``rows`` (documents <-> rows), ``claim`` (claims
and outcomes), ``enqueue`` (group commit of inserts), ``wake`` (wake-ups), ``lock`` (the
cross-process writer lock), ``dirmon``, ``slices`` (batch jobs) and ``web`` (Mission
Control queries).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import rocketjob.store.sqlite.claim as claim
from rocketjob import codec
from rocketjob.errors import ValidationError
from rocketjob.store.base import (
    AsyncJobs,
    ClaimFor,
    ClaimLimit,
    Finish,
    JobBatch,
    JobDoc,
    JobQuery,
    ServerDoc,
)
from rocketjob.store.batch_slices import BatchSlices
from rocketjob.store.dirmon_entries import DirmonEntries
from rocketjob.store.sqlite.connection import Database
from rocketjob.store.sqlite.dirmon import Dirmon
from rocketjob.store.sqlite.enqueue import EnqueueCommitter
from rocketjob.store.sqlite.rows import (
    ADOPT,
    JOB_COLUMNS,
    REQUEUE,
    SERVER_COLUMNS,
    batch_to_rows,
    job_filters,
    job_from_row,
    job_to_row,
    placeholders,
    server_from_row,
    to_column,
    to_micros,
)
from rocketjob.store.sqlite.slices import Slices
from rocketjob.store.sqlite.wake import Wakeups
from rocketjob.store.sqlite.web import SQLiteMissionControl


class SQLiteStore(SQLiteMissionControl, BatchSlices, DirmonEntries):
    """The SQLite implementation of :class:`rocketjob.store.base.Store` (and of the
    optional :class:`rocketjob.store.base.MissionControlStore`, inherited from
    :class:`SQLiteMissionControl`, which owns nothing but the typed connection; batch
    slices forwarded to its :class:`~rocketjob.store.sqlite.slices.Slices`)."""

    #: Outcome batches a worker process may have in flight at once: one, SQLite has one
    #: writer at a time anyway.
    concurrent_writers = 1
    #: No async driver: the async API runs the blocking calls on a thread (SQLite's
    #: calls are short and local; aiosqlite would be a thread too).
    async_jobs: AsyncJobs | None = None

    def __init__(self, url: str) -> None:
        self.url = url
        self._db = Database(url)
        SQLiteMissionControl.__init__(self, self._db)
        self.path = self._db.path
        self._idle = True  # the last claim found fewer jobs than asked for
        wal = None if self.path == ":memory:" else f"{self.path}-wal"
        self._wakeups = Wakeups(wal, self._db.data_version)
        self._enqueues = EnqueueCommitter(self._db.write, self._db.integrity_error)
        self._dirmon = Dirmon(self._db)
        self._slices = Slices(self._db, self._wakeups)

    # -- jobs -------------------------------------------------------------------
    def insert_jobs(self, docs: Sequence[JobDoc], *, connection: Any = None) -> None:
        if connection is not None:
            raise ValidationError(
                "connection= (transactional enqueue) needs the PostgreSQL store; "
                "the SQLite store commits every enqueue itself"
            )
        rows = batch_to_rows(docs) if isinstance(docs, JobBatch) else list(map(job_to_row, docs))
        if not rows:
            return
        self._enqueues.insert(rows)  # concurrent enqueues of this process share a commit
        self._wakeups.nudge()

    def get_job(self, job_id: str) -> JobDoc | None:
        rows = self._db.query(f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs WHERE id = ?", (job_id,))
        return job_from_row(rows[0]) if rows else None

    def update_job(
        self,
        job_id: str,
        changes: Mapping[str, Any],
        *,
        from_states: Collection[str] | None = None,
        worker_name: str | None = None,
    ) -> JobDoc | None:
        sets = ", ".join(f"{name} = ?" for name in changes)
        params: list[Any] = [to_column(name, value) for name, value in changes.items()]
        where = "id = ?"
        params.append(job_id)
        if from_states is not None:
            where += f" AND state IN ({placeholders(len(from_states))})"
            params.extend(from_states)
        if worker_name is not None:
            where += " AND worker_name = ?"
            params.append(worker_name)
        sql = f"UPDATE jobs SET {sets} WHERE {where} RETURNING {', '.join(JOB_COLUMNS)}"
        rows = self._db.write(lambda conn: conn.execute(sql, params).fetchall())
        if rows and changes.get("state") == "queued":
            self._wakeups.nudge()
        return job_from_row(rows[0]) if rows else None

    def delete_job(self, job_id: str, *, from_states: Collection[str] | None = None) -> bool:
        sql, params = "DELETE FROM jobs WHERE id = ?", [job_id]
        if from_states is not None:
            sql += f" AND state IN ({placeholders(len(from_states))})"
            params.extend(from_states)
        return bool(self._db.write(lambda conn: conn.execute(sql, params).rowcount))

    def find_jobs(self, query: JobQuery) -> list[JobDoc]:
        where, params = job_filters(query)
        sql = (
            f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs WHERE {where} "
            f"ORDER BY id {'DESC' if query.descending else 'ASC'}"
        )
        if query.limit is not None:
            sql += f" LIMIT {int(query.limit)}"
        return [job_from_row(row) for row in self._db.query(sql, params)]

    def count_jobs(self, job_class: str | None = None) -> dict[str, int]:
        # Queued jobs are counted from jobs_queue, the others from the listing indexes.
        if job_class is None:
            rows = self._db.query(
                "SELECT 'queued', COUNT(*) FROM jobs WHERE state = 'queued' UNION ALL "
                "SELECT state, COUNT(*) FROM jobs WHERE state <> 'queued' GROUP BY state"
            )
        else:
            rows = self._db.query(
                "SELECT 'queued', COUNT(*) FROM jobs WHERE state = 'queued' AND job_class = ? "
                "UNION ALL SELECT state, COUNT(*) FROM jobs "
                "WHERE state <> 'queued' AND job_class = ? GROUP BY state",
                (job_class, job_class),
            )
        return {state: count for state, count in rows if count}

    def queued_job_classes(self) -> list[str]:
        rows = self._db.query(
            "SELECT DISTINCT job_class FROM jobs INDEXED BY jobs_queue WHERE state = 'queued'"
        )
        return sorted(row[0] for row in rows)

    def claim_jobs(
        self,
        worker_names: Sequence[str],
        job_classes: Collection[str],
        now: dt.datetime,
        limits: Sequence[ClaimLimit] = (),
    ) -> list[JobDoc]:
        if not worker_names or not job_classes:
            return []
        db = self._db
        with db.lock:
            # Idle: look without the write lock first, so polling never blocks the writers
            # of other processes. Busy: go straight to the claim.
            if self._idle and not claim.has_candidates(db.conn, job_classes, to_micros(now)):
                return []
            rows = db.write(lambda conn: claim.claim(conn, worker_names, job_classes, now, limits))
            self._idle = len(rows) < len(worker_names)
            return [job_from_row(row) for row in rows]

    def claim_kinds(
        self, kinds: Sequence[ClaimFor], now: dt.datetime, limits: Sequence[ClaimLimit] = ()
    ) -> list[list[JobDoc]]:
        """Every kind's claim in one write transaction (one lock, one commit)."""
        wanted = [bool(kind.worker_names and kind.job_classes) for kind in kinds]
        if not any(wanted):
            return [[] for _ in kinds]
        db = self._db
        classes = [name for kind, on in zip(kinds, wanted, strict=True) if on
                   for name in kind.job_classes]  # fmt: skip

        def run(conn: sqlite3.Connection) -> list[list[Any]]:
            return [
                claim.claim(conn, kind.worker_names, kind.job_classes, now, limits) if on else []
                for kind, on in zip(kinds, wanted, strict=True)
            ]

        with db.lock:  # idle: a read-only look first, as claim_jobs does
            if self._idle and not claim.has_candidates(db.conn, classes, to_micros(now)):
                return [[] for _ in kinds]
            rows = db.write(run)
            places = [len(k.worker_names) for k, on in zip(kinds, wanted, strict=True) if on]
            self._idle = sum(map(len, rows)) < sum(places)
        return [[job_from_row(row) for row in kind_rows] for kind_rows in rows]

    def finish_and_claim(
        self,
        finished: Sequence[Finish],
        worker_names: Sequence[str],
        job_classes: Collection[str],
        now: dt.datetime,
        limits: Sequence[ClaimLimit] = (),
    ) -> tuple[list[str], list[JobDoc]]:
        """``finish_jobs`` then ``claim_jobs`` in ONE transaction (one commit for both):
        the threads whose outcomes are written get their next jobs at once."""

        def run(conn: sqlite3.Connection) -> tuple[list[str], list[Any]]:
            done = claim.finish(conn, finished)
            rows = claim.claim(conn, worker_names, job_classes, now, limits) if worker_names else []
            return done, rows

        done, rows = self._db.write(run)
        if any(item.changes.get("state") == "queued" for item in finished):
            self._wakeups.nudge()
        return done, [job_from_row(row) for row in rows]

    def finish_jobs(self, finished: Sequence[Finish]) -> list[str]:
        if not finished:
            return []
        result = self._db.write(lambda conn: claim.finish(conn, finished))
        if any(item.changes.get("state") == "queued" for item in finished):
            self._wakeups.nudge()
        return result

    def requeue_jobs(self, server_name: str) -> int:
        count: int = self._db.write(lambda conn: conn.execute(REQUEUE, (server_name,)).rowcount)
        if count:
            self._wakeups.nudge()
        return count

    def wait_for_jobs(self, timeout: float) -> None:
        self._wakeups.wait(timeout)

    # -- servers ----------------------------------------------------------------
    def register_server(self, doc: ServerDoc) -> None:
        row = (
            doc["name"], doc["host"], doc["pid"], doc["state"], to_micros(doc["started_at"]),
            to_micros(doc["heartbeat_at"]), doc["threads"], doc["busy"],
            codec.dumps(doc.get("info") or {}), codec.dumps(doc.get("commands") or []),
        )  # fmt: skip
        sql = (
            f"INSERT OR REPLACE INTO servers ({', '.join(SERVER_COLUMNS)}) "
            f"VALUES ({placeholders(len(SERVER_COLUMNS))})"
        )
        self._db.write(lambda conn: conn.execute(sql, row))

    def heartbeat_server(self, name: str, changes: Mapping[str, Any]) -> ServerDoc | None:
        sets, params = [], []
        for key, value in changes.items():
            sets.append(f"{key} = ?")
            if key in ("started_at", "heartbeat_at"):
                value = to_micros(value)
            elif key in ("info", "commands"):
                value = codec.dumps(value)
            params.append(value)
        sql = (
            f"UPDATE servers SET {', '.join(sets)} WHERE name = ? "
            f"RETURNING {', '.join(SERVER_COLUMNS)}"
        )

        def run(conn: sqlite3.Connection) -> list[Any]:
            rows = conn.execute(sql, (*params, name)).fetchall()
            if rows:
                conn.execute("UPDATE servers SET commands = '[]' WHERE name = ?", (name,))
            return rows

        rows = self._db.write(run)
        return server_from_row(rows[0]) if rows else None

    def send_command(self, name: str, command: str) -> bool:
        sql = "UPDATE servers SET commands = json_insert(commands, '$[#]', ?) WHERE name = ?"
        return bool(self._db.write(lambda conn: conn.execute(sql, (command, name)).rowcount))

    def list_servers(self) -> list[ServerDoc]:
        rows = self._db.query(f"SELECT {', '.join(SERVER_COLUMNS)} FROM servers ORDER BY name")
        return [server_from_row(row) for row in rows]

    def remove_server(self, name: str) -> None:
        self._db.write(lambda conn: conn.execute("DELETE FROM servers WHERE name = ?", (name,)))

    def reap_zombie_servers(self, cutoff: dt.datetime, heir: str) -> list[str]:
        """One write transaction (SQLite has one writer at a time: of racing callers, the
        first takes every zombie, the others find none)."""

        def run(conn: sqlite3.Connection) -> list[str]:
            names = [
                row[0]
                for row in conn.execute(
                    "SELECT name FROM servers WHERE heartbeat_at < ? ORDER BY name",
                    (to_micros(cutoff),),
                )
            ]
            for name in names:
                conn.execute(ADOPT, (heir, name))
                conn.execute("DELETE FROM servers WHERE name = ?", (name,))
            return names

        names: list[str] = self._db.write(run)
        return names

    def delete_jobs(self, states: Collection[str], finished_before: dt.datetime, limit: int) -> int:
        """Delete at most ``limit`` finished jobs in ``states`` (one short write)."""
        if not states or limit <= 0:
            return 0
        sql = (
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN "
            f"({placeholders(len(states))}) AND completed_at < ? LIMIT ?)"
        )
        params = (*states, to_micros(finished_before), int(limit))
        return int(self._db.write(lambda conn: conn.execute(sql, params).rowcount))

    def close(self) -> None:
        with self._db.lock:
            self._db.close()
            self._wakeups.close()
