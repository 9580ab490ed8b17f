"""The embedded default store: one SQLite file in WAL mode, shared by many processes.

* WAL journal, ``synchronous=FULL`` by default (``?synchronous=normal`` trades the last
  commits on power loss for speed), a busy timeout (``?busy_timeout=10000`` ms).
* Schema created on first connect under ``BEGIN IMMEDIATE`` and versioned with
  ``PRAGMA user_version``.
* Claiming is one ``BEGIN IMMEDIATE`` transaction: SQLite allows one writer at a time, so
  no two processes can claim the same row. A partial index on ``(priority, id) WHERE
  state = 'queued'`` serves it in order.
* Wake-ups: ``PRAGMA data_version`` changes when another connection commits. It reads
  the shared WAL index in memory, not the database pages, so idle workers poll it every
  few milliseconds at almost no cost and pick new jobs up at once.

One connection per process, guarded by a lock: SQLite serialises writers anyway.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from rocketjob import codec
from rocketjob.errors import StoreError, StoreUnavailable, ValidationError
from rocketjob.store.base import JOB_FIELDS, ClaimLimit, Finish, JobDoc, JobQuery, ServerDoc
from rocketjob.store.sqlite_extras import MIGRATION_2, SQLiteExtras, duplicate_error

SCHEMA_VERSION = 2
POLL_SECONDS = 0.004

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

_JOB_COLUMNS = tuple(JOB_FIELDS)
_TIME_COLUMNS = frozenset({"run_at", "expires_at", "created_at", "started_at", "completed_at"})
_JSON_COLUMNS = frozenset({"arguments", "result", "exception", "fields"})
_BOOL_COLUMNS = frozenset({"destroy_on_complete", "collect_output"})
_SERVER_COLUMNS = ("name", "host", "pid", "state", "started_at", "heartbeat_at", "threads",
                   "busy", "info", "commands")  # fmt: skip
_INSERT_JOB = (
    f"INSERT INTO jobs ({', '.join(_JOB_COLUMNS)}) VALUES ({', '.join('?' for _ in _JOB_COLUMNS)})"
)
_REQUEUE = (
    "UPDATE jobs SET state = 'queued', worker_name = NULL, server_name = NULL, "
    "started_at = NULL WHERE state = 'running' AND server_name = ?"
)


def to_micros(value: dt.datetime | None) -> int | None:
    """A datetime as integer microseconds since the epoch (exact, sortable)."""
    if value is None:
        return None
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int | None) -> dt.datetime | None:
    """The aware UTC datetime of integer epoch microseconds."""
    return None if value is None else _EPOCH + dt.timedelta(microseconds=value)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _to_column(name: str, value: Any) -> Any:
    if name in _TIME_COLUMNS:
        return to_micros(value)
    if name in _JSON_COLUMNS:
        return None if value is None else codec.dumps(value)
    if name in _BOOL_COLUMNS:
        return int(bool(value))
    return value


def _job_from_row(row: Sequence[Any]) -> JobDoc:
    doc = dict(zip(_JOB_COLUMNS, row, strict=True))
    for name in _TIME_COLUMNS:
        doc[name] = from_micros(doc[name])
    for name in _JSON_COLUMNS:
        doc[name] = codec.loads(doc[name])
    for name in _BOOL_COLUMNS:
        doc[name] = bool(doc[name])
    return doc


def _server_from_row(row: Sequence[Any]) -> ServerDoc:
    doc = dict(zip(_SERVER_COLUMNS, row, strict=True))
    doc["started_at"] = from_micros(doc["started_at"])
    doc["heartbeat_at"] = from_micros(doc["heartbeat_at"])
    doc["info"] = codec.loads(doc["info"])
    doc["commands"] = codec.loads(doc["commands"])
    return doc


def _placeholders(count: int) -> str:
    return ", ".join("?" * count)


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


class SQLiteStore(SQLiteExtras):
    """The SQLite implementation of :class:`rocketjob.store.base.Store`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path, options = parse_url(url)
        synchronous = options.get("synchronous", "full").upper()
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise StoreUnavailable(f"store url {url!r}: synchronous must be full or normal")
        busy_ms = int(options.get("busy_timeout", "10000"))
        self._lock = threading.RLock()
        self._wakeup = threading.Event()
        self._conn = self._connect(busy_ms, synchronous)
        self._data_version = self._read_data_version()

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
            for version, script in ((1, _SCHEMA), (2, MIGRATION_2)):
                if current < version:
                    for statement in script.split(";"):
                        if statement.strip():
                            conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # -- helpers ----------------------------------------------------------------
    def _write(self, fn: Any) -> Any:
        """Run ``fn(conn)`` inside one BEGIN IMMEDIATE transaction."""
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:  # locked past busy_timeout, disk gone
                raise StoreUnavailable(f"store {self.url}: {exc}") from exc
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException as exc:
                conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):
                    raise StoreUnavailable(f"store {self.url}: {exc}") from exc
                if isinstance(exc, sqlite3.IntegrityError):
                    duplicate = duplicate_error(exc)
                    if duplicate is not None:
                        raise duplicate from None
                    raise StoreError(f"store {self.url}: {exc}") from exc
                raise
            return result

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
        rows = [tuple(_to_column(name, doc.get(name)) for name in _JOB_COLUMNS) for doc in docs]
        if not rows:
            return
        self._write(lambda conn: conn.executemany(_INSERT_JOB, rows))
        self._wakeup.set()

    def get_job(self, job_id: str) -> JobDoc | None:
        rows = self._query(f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs WHERE id = ?", (job_id,))
        return _job_from_row(rows[0]) if rows else None

    def update_job(
        self,
        job_id: str,
        changes: Mapping[str, Any],
        *,
        from_states: Collection[str] | None = None,
        worker_name: str | None = None,
    ) -> JobDoc | None:
        sets = ", ".join(f"{name} = ?" for name in changes)
        params: list[Any] = [_to_column(name, value) for name, value in changes.items()]
        where = "id = ?"
        params.append(job_id)
        if from_states is not None:
            where += f" AND state IN ({_placeholders(len(from_states))})"
            params.extend(from_states)
        if worker_name is not None:
            where += " AND worker_name = ?"
            params.append(worker_name)
        sql = f"UPDATE jobs SET {sets} WHERE {where} RETURNING {', '.join(_JOB_COLUMNS)}"
        rows = self._write(lambda conn: conn.execute(sql, params).fetchall())
        if rows and changes.get("state") == "queued":
            self._wakeup.set()
        return _job_from_row(rows[0]) if rows else None

    def delete_job(self, job_id: str, *, from_states: Collection[str] | None = None) -> bool:
        sql, params = "DELETE FROM jobs WHERE id = ?", [job_id]
        if from_states is not None:
            sql += f" AND state IN ({_placeholders(len(from_states))})"
            params.extend(from_states)
        return bool(self._write(lambda conn: conn.execute(sql, params).rowcount))

    def find_jobs(self, query: JobQuery) -> list[JobDoc]:
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if query.states is not None:
            where.append(f"state IN ({_placeholders(len(query.states))})")
            params.extend(query.states)
        if query.job_class is not None:
            where.append("job_class = ?")
            params.append(query.job_class)
        if query.ids is not None:
            where.append(f"id IN ({_placeholders(len(query.ids))})")
            params.extend(query.ids)
        if query.server_name is not None:
            where.append("server_name = ?")
            params.append(query.server_name)
        if query.after is not None:
            where.append("id < ?" if query.descending else "id > ?")
            params.append(query.after)
        sql = (
            f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs WHERE {' AND '.join(where)} "
            f"ORDER BY id {'DESC' if query.descending else 'ASC'}"
        )
        if query.limit is not None:
            sql += f" LIMIT {int(query.limit)}"
        return [_job_from_row(row) for row in self._query(sql, params)]

    def count_jobs(self, job_class: str | None = None) -> dict[str, int]:
        if job_class is None:
            rows = self._query("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        else:
            rows = self._query(
                "SELECT state, COUNT(*) FROM jobs WHERE job_class = ? GROUP BY state",
                (job_class,),
            )
        return {state: count for state, count in rows}

    def queued_job_classes(self) -> list[str]:
        rows = self._query("SELECT DISTINCT job_class FROM jobs WHERE state = 'queued'")
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
        now_us = to_micros(now)
        server = worker_names[0].rsplit(":", 1)[0]
        classes = list(job_classes)
        select = (
            "SELECT id FROM jobs WHERE state = 'queued' "
            f"AND job_class IN ({_placeholders(len(classes))}) "
            "AND (run_at IS NULL OR run_at <= ?) ORDER BY priority, id LIMIT ?"
        )
        claim = (
            "UPDATE jobs SET state = 'running', started_at = ?, server_name = ?, "
            "worker_name = ? WHERE id = ? AND state = 'queued'"
        )
        columns = ", ".join(_JOB_COLUMNS)

        def run(conn: sqlite3.Connection) -> list[Any]:
            if limits:
                ids = self._claim_limited(conn, worker_names, classes, now_us, limits)
            else:
                ids = [
                    row[0] for row in conn.execute(select, (*classes, now_us, len(worker_names)))
                ]
            if not ids:
                return []
            conn.executemany(
                claim,
                [
                    (now_us, server, name, job_id)
                    for name, job_id in zip(worker_names, ids, strict=False)
                ],
            )
            rows = conn.execute(
                f"SELECT {columns} FROM jobs WHERE id IN ({_placeholders(len(ids))})", ids
            ).fetchall()
            order = {job_id: i for i, job_id in enumerate(ids)}
            return sorted(rows, key=lambda row: order[row[0]])

        with self._lock:
            if not self._has_candidates(select, classes, now_us):
                return []
            return [_job_from_row(row) for row in self._write(run)]

    def _has_candidates(self, select: str, classes: list[str], now_us: int | None) -> bool:
        """A read-only look before taking the write lock, so idle polling never blocks
        the writers of other processes."""
        return bool(self._conn.execute(select, (*classes, now_us, 1)).fetchone())

    def finish_jobs(self, finished: Sequence[Finish]) -> list[str]:
        def run(conn: sqlite3.Connection) -> list[str]:
            done = []
            for item in finished:
                if item.destroy:
                    cursor = conn.execute(
                        "DELETE FROM jobs WHERE id = ? AND state = 'running' AND worker_name = ?",
                        (item.job_id, item.worker_name),
                    )
                else:
                    names = list(item.changes)
                    cursor = conn.execute(
                        f"UPDATE jobs SET {', '.join(f'{n} = ?' for n in names)} "
                        "WHERE id = ? AND state = 'running' AND worker_name = ?",
                        [_to_column(n, item.changes[n]) for n in names]
                        + [item.job_id, item.worker_name],
                    )
                if cursor.rowcount:
                    done.append(item.job_id)
            return done

        if not finished:
            return []
        result: list[str] = self._write(run)
        if any(item.changes.get("state") == "queued" for item in finished):
            self._wakeup.set()
        return result

    def requeue_jobs(self, server_name: str) -> int:
        count: int = self._write(lambda conn: conn.execute(_REQUEUE, (server_name,)).rowcount)
        if count:
            self._wakeup.set()
        return count

    def wait_for_jobs(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            version = self._read_data_version()
            if version != self._data_version:
                self._data_version = version
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if self._wakeup.wait(min(POLL_SECONDS, remaining)):
                self._wakeup.clear()
                return

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
            f"INSERT OR REPLACE INTO servers ({', '.join(_SERVER_COLUMNS)}) "
            f"VALUES ({_placeholders(len(_SERVER_COLUMNS))})"
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
            f"RETURNING {', '.join(_SERVER_COLUMNS)}"
        )

        def run(conn: sqlite3.Connection) -> list[Any]:
            rows = conn.execute(sql, (*params, name)).fetchall()
            if rows:
                conn.execute("UPDATE servers SET commands = '[]' WHERE name = ?", (name,))
            return rows

        rows = self._write(run)
        return _server_from_row(rows[0]) if rows else None

    def send_command(self, name: str, command: str) -> bool:
        sql = "UPDATE servers SET commands = json_insert(commands, '$[#]', ?) WHERE name = ?"
        return bool(self._write(lambda conn: conn.execute(sql, (command, name)).rowcount))

    def list_servers(self) -> list[ServerDoc]:
        rows = self._query(f"SELECT {', '.join(_SERVER_COLUMNS)} FROM servers ORDER BY name")
        return [_server_from_row(row) for row in rows]

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
                conn.execute(_REQUEUE, (name,))
                conn.execute("DELETE FROM servers WHERE name = ?", (name,))
            return names

        names: list[str] = self._write(run)
        if names:
            self._wakeup.set()
        return names

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- Mission Control (additive: listings, counts, audit log) ---------------------
    def prepare_mission_control(self) -> None:
        """Create what Mission Control's queries need, once per store: the audit table
        and an index on ``(completed_at, state)`` (throughput and run-time figures). Idempotent;
        the first call on a large existing database builds the index (seconds)."""
        if getattr(self, "_mission_control_ready", False):
            return

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "at INTEGER NOT NULL, user TEXT NOT NULL, action TEXT NOT NULL, "
                "target TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL)"
            )
            conn.execute(
                "CREATE INDEX IF NOT EXISTS jobs_finished_state ON jobs (completed_at, state) "
                "WHERE completed_at IS NOT NULL"
            )

        self._write(run)
        self._mission_control_ready = True

    def add_audit(self, entry: Mapping[str, Any]) -> str:
        """Append one audit entry ``{at, user, action, target, outcome, detail}`` (``at``
        an aware datetime, the others str); return its id. Ids grow with time."""
        self.prepare_mission_control()
        row = (
            to_micros(entry["at"]), entry["user"], entry["action"], entry["target"],
            entry.get("outcome", "ok"), entry.get("detail", ""),
        )  # fmt: skip
        sql = (
            "INSERT INTO audit (at, user, action, target, outcome, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)"
        )
        return str(self._write(lambda conn: conn.execute(sql, row).lastrowid))

    def list_audit(self, limit: int = 100, after: str | None = None) -> list[dict[str, Any]]:
        """Audit entries newest first (keyset: ``after`` is the last id of the previous
        page); each has ``id`` (str) and the keys given to :meth:`add_audit`."""
        self.prepare_mission_control()
        sql = "SELECT id, at, user, action, target, outcome, detail FROM audit"
        params: list[Any] = []
        if after is not None:
            sql += " WHERE id < ?"
            params.append(int(after))
        sql += f" ORDER BY id DESC LIMIT {int(limit)}"
        keys = ("id", "at", "user", "action", "target", "outcome", "detail")
        entries = [dict(zip(keys, row, strict=True)) for row in self._query(sql, params)]
        for entry in entries:
            entry["id"], entry["at"] = str(entry["id"]), from_micros(entry["at"])
        return entries

    def count_jobs_by_class(self) -> dict[str, dict[str, int]]:
        """Number of jobs per class and state: ``{job_class: {state: n}}`` (a full
        index scan: callers cache it)."""
        rows = self._query("SELECT job_class, state, COUNT(*) FROM jobs GROUP BY job_class, state")
        counts: dict[str, dict[str, int]] = {}
        for job_class, state, count in rows:
            counts.setdefault(job_class, {})[state] = count
        return counts

    def scan_jobs(
        self,
        query: JobQuery,
        *,
        text: str | None = None,
        scheduled: bool | None = None,
        now: dt.datetime | None = None,
        scan_limit: int = 20_000,
    ) -> tuple[list[JobDoc], str | None]:
        """Like :meth:`find_jobs`, with predicates no index serves checked on at most
        ``scan_limit`` jobs in id order, so a page costs the same at any table size.

        ``text`` matches (case-insensitively) the id, class, description, arguments,
        exception, worker name or custom fields; ``scheduled`` True keeps queued jobs
        whose run_at is after ``now``, False those that are not. Returns the matching
        documents (at most ``query.limit``) and the id to pass as ``after`` to go on
        (None when the scan reached the end)."""
        base, params = _job_filters(query)
        extra, extra_params = _scan_predicates(text, scheduled, now)
        order = "DESC" if query.descending else "ASC"
        limit = int(query.limit or 1000)
        boundary_rows = self._query(
            f"SELECT id FROM jobs WHERE {base} ORDER BY id {order} LIMIT 1 OFFSET ?",
            [*params, max(scan_limit - 1, 0)],
        )
        boundary = boundary_rows[0][0] if boundary_rows else None
        where = [base, *extra]
        window_params = [*params, *extra_params]
        if boundary is not None:
            where.append("id >= ?" if query.descending else "id <= ?")
            window_params.append(boundary)
        sql = (
            f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs WHERE {' AND '.join(where)} "
            f"ORDER BY id {order} LIMIT {limit + 1}"
        )
        docs = [_job_from_row(row) for row in self._query(sql, window_params)]
        if len(docs) > limit:
            return docs[:limit], docs[limit - 1]["id"]
        return docs, boundary

    def finished_per_minute(self, since: dt.datetime) -> list[tuple[dt.datetime, str, int]]:
        """How many stored jobs finished (completed_at set) in each minute since
        ``since``, by state: ``(minute_start, state, count)`` rows, oldest first. Served
        by the ``(completed_at, state)`` index alone."""
        self.prepare_mission_control()
        rows = self._query(
            "SELECT completed_at / 60000000 AS minute, state, COUNT(*) FROM jobs "
            "WHERE completed_at >= ? GROUP BY minute, state ORDER BY minute",
            (to_micros(since),),
        )
        return [(_EPOCH + dt.timedelta(minutes=m), state, n) for m, state, n in rows]

    def recent_timings(self, since: dt.datetime, limit: int = 5000) -> list[tuple[float, float]]:
        """``(run_seconds, wait_seconds)`` of the at most ``limit`` most recently
        finished stored jobs since ``since`` that had started: run = completed_at -
        started_at, wait = started_at - max(created_at, run_at)."""
        self.prepare_mission_control()
        rows = self._query(
            "SELECT completed_at - started_at, "
            "started_at - max(created_at, coalesce(run_at, created_at)) FROM jobs "
            "WHERE completed_at >= ? AND started_at IS NOT NULL "
            f"ORDER BY completed_at DESC LIMIT {int(limit)}",
            (to_micros(since),),
        )
        return [(run / 1e6, max(wait, 0) / 1e6) for run, wait in rows]


def _job_filters(query: JobQuery) -> tuple[str, list[Any]]:
    """The WHERE clause (indexed filters and keyset) of a job listing."""
    where, params = ["1 = 1"], list[Any]()
    if query.states is not None:
        where.append(f"state IN ({_placeholders(len(query.states))})")
        params.extend(query.states)
    if query.job_class is not None:
        where.append("job_class = ?")
        params.append(query.job_class)
    if query.ids is not None:
        where.append(f"id IN ({_placeholders(len(query.ids))})")
        params.extend(query.ids)
    if query.server_name is not None:
        where.append("server_name = ?")
        params.append(query.server_name)
    if query.after is not None:
        where.append("id < ?" if query.descending else "id > ?")
        params.append(query.after)
    return " AND ".join(where), params


_TEXT_COLUMNS = (
    "id", "job_class", "description", "arguments", "exception", "worker_name", "fields",
)  # fmt: skip


def _scan_predicates(
    text: str | None, scheduled: bool | None, now: dt.datetime | None
) -> tuple[list[str], list[Any]]:
    """Unindexed predicates of :meth:`SQLiteStore.scan_jobs`."""
    where: list[str] = []
    params: list[Any] = []
    if text:
        haystack = " || ' ' || ".join(f"coalesce({c}, '')" for c in _TEXT_COLUMNS)
        where.append(f"instr(lower({haystack}), ?) > 0")
        params.append(text.lower())
    if scheduled is not None:
        moment = to_micros(now or dt.datetime.now(dt.UTC))
        future = "(run_at IS NOT NULL AND run_at > ?)"
        where.append(future if scheduled else "(run_at IS NULL OR run_at <= ?)")
        params.append(moment)
    return where, params
