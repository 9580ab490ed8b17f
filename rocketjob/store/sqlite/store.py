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
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import sqlite3
import threading
from collections.abc import Collection, Mapping, Sequence
from typing import Any, NoReturn
from urllib.parse import parse_qs, urlsplit

from rocketjob import codec
from rocketjob.errors import StoreError, StoreUnavailable, ValidationError
from rocketjob.store.base import ClaimLimit, Finish, JobBatch, JobDoc, JobQuery, ServerDoc
from rocketjob.store.sqlite.enqueue import EnqueueCommitter
from rocketjob.store.sqlite.extras import MIGRATION_2, SQLiteExtras, duplicate_error
from rocketjob.store.sqlite.lock import WriterLock
from rocketjob.store.sqlite.rows import (
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
from rocketjob.store.sqlite.slices import SQLiteSlices
from rocketjob.store.sqlite.wake import Wakeups
from rocketjob.store.sqlite.web import SQLiteMissionControl

SCHEMA_VERSION = 5
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    job_class TEXT NOT NULL,
    state TEXT NOT NULL,
    priority INTEGER NOT NULL,
    description TEXT,
    arguments TEXT,
    run_at INTEGER,
    expires_at INTEGER,
    destroy_on_complete INTEGER NOT NULL,
    collect_output INTEGER NOT NULL,
    result TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    completed_at INTEGER,
    failure_count INTEGER NOT NULL DEFAULT 0,
    worker_name TEXT,
    server_name TEXT,
    percent_complete INTEGER NOT NULL DEFAULT 0,
    exception TEXT,
    log_level TEXT,
    fields TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS jobs_claim ON jobs (priority, id) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, id);
CREATE INDEX IF NOT EXISTS jobs_class_state ON jobs (job_class, state, id);
CREATE INDEX IF NOT EXISTS jobs_server ON jobs (server_name) WHERE state = 'running';
CREATE TABLE IF NOT EXISTS servers (
    name TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    state TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    threads INTEGER NOT NULL,
    busy INTEGER NOT NULL,
    info TEXT NOT NULL,
    commands TEXT NOT NULL
) WITHOUT ROWID;
"""

#: Schema version 3: the claim reads one covering partial index in claim order, so it
#: never sorts the queue or visits table rows to skip other classes and future jobs;
#: throttled claims count running jobs per class from an index.
MIGRATION_3 = """
DROP INDEX IF EXISTS jobs_claim;
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (priority, id, job_class, run_at)
    WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS jobs_running ON jobs (job_class) WHERE state = 'running'
"""

#: Schema version 4: the listing indexes leave queued jobs out (``jobs_queue`` holds
#: them), so an enqueue writes two b-trees (table and ``jobs_queue``) instead of four: one
#: fsync'd commit writes about half the pages. Listings of other states repeat the
#: indexes' condition literally (``state_index_terms``); queued jobs are counted from
#: ``jobs_queue``, which carries ``state`` so that the count reads the index alone
#: (SQLite does not treat a partial index as covering the column of its own condition).
MIGRATION_4 = """
DROP INDEX IF EXISTS jobs_queue;
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (priority, id, job_class, run_at, state)
    WHERE state = 'queued';
DROP INDEX IF EXISTS jobs_state;
DROP INDEX IF EXISTS jobs_class_state;
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, id) WHERE state <> 'queued';
CREATE INDEX IF NOT EXISTS jobs_class_state ON jobs (job_class, state, id)
    WHERE state <> 'queued'
"""

#: Schema version 5: the failed-attempt history of each job (rocketjob.attempts).
MIGRATION_5 = "ALTER TABLE jobs ADD COLUMN attempts TEXT"


def parse_url(url: str) -> tuple[str, dict[str, str]]:
    """The file path and options of ``sqlite:///relative.db`` or ``sqlite:////abs.db``."""
    parts = urlsplit(url)
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path:
        raise StoreUnavailable(f"store url {url!r} names no file; use sqlite:///rocketjob.db")
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    unknown = set(options) - {"synchronous", "busy_timeout"}
    if unknown:
        raise StoreUnavailable(
            f"store url {url!r}: unknown option {sorted(unknown)[0]!r}; "
            "use synchronous=full|normal or busy_timeout=MILLISECONDS"
        )
    return path, options


class SQLiteStore(SQLiteExtras, SQLiteSlices, SQLiteMissionControl):
    """The SQLite implementation of :class:`rocketjob.store.base.Store`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path, options = parse_url(url)
        synchronous = options.get("synchronous", "full").upper()
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise StoreUnavailable(f"store url {url!r}: synchronous must be full or normal")
        busy_ms = int(options.get("busy_timeout", "10000"))
        self._lock = threading.RLock()
        self._idle = True  # the last claim found fewer jobs than asked for
        self._conn = self._connect(busy_ms, synchronous)
        self._writer_lock = WriterLock(self.path, busy_ms / 1000)
        wal = None if self.path == ":memory:" else f"{self.path}-wal"
        self._wakeups = Wakeups(wal, self._read_data_version)
        self._enqueues = EnqueueCommitter(self._write, self._integrity_error)

    def _connect(self, busy_ms: int, synchronous: str) -> sqlite3.Connection:
        folder = os.path.dirname(os.path.abspath(self.path))
        if self.path != ":memory:" and not os.path.isdir(folder):
            raise StoreUnavailable(
                f"store {self.url}: folder {folder} does not exist; create it or fix [store] url"
            )
        try:
            conn = sqlite3.connect(
                self.path, timeout=busy_ms / 1000, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            self._migrate(conn)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"store {self.url}: cannot open {self.path}: {exc}") from exc
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"store {self.url}: schema version {version} is newer than this rocketjob "
                f"understands ({SCHEMA_VERSION}); upgrade rocketjob"
            )
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            migrations = ((1, _SCHEMA), (2, MIGRATION_2), (3, MIGRATION_3), (4, MIGRATION_4),
                          (5, MIGRATION_5))  # fmt: skip
            for version, script in migrations:
                if current < version:
                    for statement in script.split(";"):
                        if statement.strip():
                            conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

    # -- helpers ----------------------------------------------------------------
    def _write(self, fn: Any, *, one_statement: bool = False) -> Any:
        """Run ``fn(conn)`` inside one BEGIN IMMEDIATE transaction. With ``one_statement``
        (``fn`` executes exactly one statement) the statement is its own transaction:
        SQLite's implicit one, without the BEGIN and COMMIT round trips."""
        with self._lock:
            conn = self._conn
            self._writer_lock.acquire()
            try:
                if one_statement:
                    return self._statement(conn, fn)
                return self._transaction(conn, fn)
            finally:
                self._writer_lock.release()

    def _statement(self, conn: sqlite3.Connection, fn: Any) -> Any:
        """``fn(conn)``, one statement in autocommit mode; a failed statement leaves
        nothing behind, so there is nothing to roll back."""
        try:
            return fn(conn)
        except BaseException as exc:
            self._raise_as_store_error(exc)

    def _transaction(self, conn: sqlite3.Connection, fn: Any) -> Any:
        """BEGIN IMMEDIATE, ``fn(conn)``, COMMIT (ROLLBACK and a rocketjob error on failure)."""
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:  # locked past busy_timeout, disk gone
            raise StoreUnavailable(f"store {self.url}: {exc}") from exc
        try:
            result = fn(conn)
            conn.execute("COMMIT")
        except BaseException as exc:
            _rollback(conn)
            self._raise_as_store_error(exc)
        return result

    def _raise_as_store_error(self, exc: BaseException) -> NoReturn:
        """Raise a failed write's ``exc`` as the rocketjob error it stands for: a locked or
        broken database is StoreUnavailable, a refused row DuplicateJob or StoreError;
        anything else as it is."""
        if isinstance(exc, sqlite3.OperationalError):
            raise StoreUnavailable(f"store {self.url}: {exc}") from exc
        if isinstance(exc, sqlite3.IntegrityError):
            raise self._integrity_error(exc) from None
        raise exc

    def _integrity_error(self, exc: sqlite3.IntegrityError) -> Exception:
        """DuplicateJob for the singleton index, else a StoreError naming the store."""
        return duplicate_error(exc) or StoreError(f"store {self.url}: {exc}")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"store {self.url}: {exc}") from exc

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
        rows = self._query(f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs WHERE id = ?", (job_id,))
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
        rows = self._write(lambda conn: conn.execute(sql, params).fetchall())
        if rows and changes.get("state") == "queued":
            self._wakeups.nudge()
        return job_from_row(rows[0]) if rows else None

    def delete_job(self, job_id: str, *, from_states: Collection[str] | None = None) -> bool:
        sql, params = "DELETE FROM jobs WHERE id = ?", [job_id]
        if from_states is not None:
            sql += f" AND state IN ({placeholders(len(from_states))})"
            params.extend(from_states)
        return bool(self._write(lambda conn: conn.execute(sql, params).rowcount))

    def find_jobs(self, query: JobQuery) -> list[JobDoc]:
        where, params = job_filters(query)
        sql = (
            f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs WHERE {where} "
            f"ORDER BY id {'DESC' if query.descending else 'ASC'}"
        )
        if query.limit is not None:
            sql += f" LIMIT {int(query.limit)}"
        return [job_from_row(row) for row in self._query(sql, params)]

    def count_jobs(self, job_class: str | None = None) -> dict[str, int]:
        # Queued jobs are counted from jobs_queue, the others from the listing indexes.
        if job_class is None:
            rows = self._query(
                "SELECT 'queued', COUNT(*) FROM jobs WHERE state = 'queued' UNION ALL "
                "SELECT state, COUNT(*) FROM jobs WHERE state <> 'queued' GROUP BY state"
            )
        else:
            rows = self._query(
                "SELECT 'queued', COUNT(*) FROM jobs WHERE state = 'queued' AND job_class = ? "
                "UNION ALL SELECT state, COUNT(*) FROM jobs "
                "WHERE state <> 'queued' AND job_class = ? GROUP BY state",
                (job_class, job_class),
            )
        return {state: count for state, count in rows if count}

    def queued_job_classes(self) -> list[str]:
        rows = self._query(
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
        with self._lock:
            # Idle: look without the write lock first, so polling never blocks the writers
            # of other processes. Busy: go straight to the claim.
            if self._idle and not self._has_candidates(job_classes, to_micros(now)):
                return []
            rows = self._write(
                lambda conn: self._claim(conn, worker_names, job_classes, now, limits)
            )
            self._idle = len(rows) < len(worker_names)
            return [job_from_row(row) for row in rows]

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
            done = self._finish(conn, finished)
            rows = self._claim(conn, worker_names, job_classes, now, limits) if worker_names else []
            return done, rows

        done, rows = self._write(run)
        if any(item.changes.get("state") == "queued" for item in finished):
            self._wakeups.nudge()
        return done, [job_from_row(row) for row in rows]

    def _claim(
        self,
        conn: sqlite3.Connection,
        worker_names: Sequence[str],
        job_classes: Collection[str],
        now: dt.datetime,
        limits: Sequence[ClaimLimit],
    ) -> list[Any]:
        """Inside a write transaction: claim rows for ``worker_names``, in claim order."""
        now_us = to_micros(now)
        classes = list(job_classes)
        if limits:
            ids = self._claim_limited(conn, worker_names, classes, now_us, limits)
        else:
            params = (*classes, now_us, len(worker_names))
            ids = [row[0] for row in conn.execute(_claim_select(len(classes)), params)]
        if not ids:
            return []
        server = worker_names[0].rsplit(":", 1)[0]
        return _claim_rows(conn, ids, worker_names, server, now_us)

    def _has_candidates(self, job_classes: Collection[str], now_us: int | None) -> bool:
        """A read-only look before taking the write lock, so idle polling never blocks
        the writers of other processes."""
        params = (*job_classes, now_us, 1)
        return bool(self._conn.execute(_claim_select(len(job_classes)), params).fetchone())

    def finish_jobs(self, finished: Sequence[Finish]) -> list[str]:
        if not finished:
            return []
        result: list[str] = self._write(lambda conn: self._finish(conn, finished))
        if any(item.changes.get("state") == "queued" for item in finished):
            self._wakeups.nudge()
        return result

    @staticmethod
    def _finish(conn: sqlite3.Connection, finished: Sequence[Finish]) -> list[str]:
        """Inside a write transaction: write each outcome if the job is still ours. The
        deletions go in one statement: every statement lets the other threads of this
        process take the GIL while the write lock is held."""
        done = _delete_finished(conn, [item for item in finished if item.destroy])
        for item in finished:
            if item.destroy:
                continue
            names = list(item.changes)
            cursor = conn.execute(
                f"UPDATE jobs SET {', '.join(f'{n} = ?' for n in names)} "
                "WHERE id = ? AND state = 'running' AND worker_name = ?",
                [to_column(n, item.changes[n]) for n in names] + [item.job_id, item.worker_name],
            )
            if cursor.rowcount:
                done.append(item.job_id)
        return done

    def requeue_jobs(self, server_name: str) -> int:
        count: int = self._write(lambda conn: conn.execute(REQUEUE, (server_name,)).rowcount)
        if count:
            self._wakeups.nudge()
        return count

    def wait_for_jobs(self, timeout: float) -> None:
        self._wakeups.wait(timeout)

    def _read_data_version(self) -> int:
        with self._lock:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

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
        self._write(lambda conn: conn.execute(sql, row))

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

        rows = self._write(run)
        return server_from_row(rows[0]) if rows else None

    def send_command(self, name: str, command: str) -> bool:
        sql = "UPDATE servers SET commands = json_insert(commands, '$[#]', ?) WHERE name = ?"
        return bool(self._write(lambda conn: conn.execute(sql, (command, name)).rowcount))

    def list_servers(self) -> list[ServerDoc]:
        rows = self._query(f"SELECT {', '.join(SERVER_COLUMNS)} FROM servers ORDER BY name")
        return [server_from_row(row) for row in rows]

    def remove_server(self, name: str) -> None:
        self._write(lambda conn: conn.execute("DELETE FROM servers WHERE name = ?", (name,)))

    def reap_zombie_servers(self, cutoff: dt.datetime) -> list[str]:
        def run(conn: sqlite3.Connection) -> list[str]:
            names = [
                row[0]
                for row in conn.execute(
                    "SELECT name FROM servers WHERE heartbeat_at < ?", (to_micros(cutoff),)
                )
            ]
            for name in names:
                conn.execute(REQUEUE, (name,))
                conn.execute("DELETE FROM servers WHERE name = ?", (name,))
            return names

        names: list[str] = self._write(run)
        if names:
            self._wakeups.nudge()
        return names

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            self._writer_lock.close()
            self._wakeups.close()


def _claim_rows(
    conn: sqlite3.Connection,
    ids: list[str],
    worker_names: Sequence[str],
    server: str,
    now_us: int | None,
) -> list[Any]:
    """Move ``ids`` to running, naming the i-th job's worker ``worker_names[i]``, in one
    UPDATE ... RETURNING; the rows come back in ``ids`` order."""
    cases = " ".join("WHEN ? THEN ?" for _ in ids)
    pairs = [value for pair in zip(ids, worker_names, strict=False) for value in pair]
    rows = conn.execute(
        f"UPDATE jobs SET state = 'running', started_at = ?, server_name = ?, "
        f"worker_name = CASE id {cases} END "
        f"WHERE id IN ({placeholders(len(ids))}) AND state = 'queued' "
        f"RETURNING {', '.join(JOB_COLUMNS)}",
        (now_us, server, *pairs, *ids),
    ).fetchall()
    order = {job_id: i for i, job_id in enumerate(ids)}
    return sorted(rows, key=lambda row: order[row[0]])


def _delete_finished(conn: sqlite3.Connection, items: Sequence[Finish]) -> list[str]:
    """Delete the jobs of ``items`` that are still running on the named workers, in one
    DELETE ... RETURNING; returns the ids deleted."""
    if not items:
        return []
    cases = " ".join("WHEN ? THEN ?" for _ in items)
    pairs = [value for item in items for value in (item.job_id, item.worker_name)]
    rows = conn.execute(
        f"DELETE FROM jobs WHERE id IN ({placeholders(len(items))}) AND state = 'running' "
        f"AND worker_name = CASE id {cases} END RETURNING id",
        (*(item.job_id for item in items), *pairs),
    ).fetchall()
    return [row[0] for row in rows]


@functools.lru_cache(maxsize=64)
def _claim_select(class_count: int) -> str:
    """The claim's SELECT for ``class_count`` job classes (cached: built once)."""
    return (
        "SELECT id FROM jobs INDEXED BY jobs_queue WHERE state = 'queued' "
        f"AND job_class IN ({placeholders(class_count)}) "
        "AND (run_at IS NULL OR run_at <= ?) ORDER BY priority, id LIMIT ?"
    )


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite left one open.

    On some errors (SQLITE_FULL "database or disk is full", SQLITE_IOERR, SQLITE_NOMEM)
    SQLite has already rolled the transaction back itself: a ROLLBACK then fails with
    "cannot rollback - no transaction is active" and would hide the real cause. A
    ROLLBACK that fails anyway is ignored here (documented boundary): the error being
    raised is the one the caller must see, and nothing of the transaction was committed.
    """
    if not conn.in_transaction:
        return
    with contextlib.suppress(sqlite3.Error):
        conn.execute("ROLLBACK")
