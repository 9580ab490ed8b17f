"""SQLite store: the optional Mission Control methods
(:class:`rocketjob.store.base.MissionControlStore`): audit log, counts by class, bounded
scans for free-text and scheduled filters, throughput and timing samples, server-side web
sessions (``web_sessions``) and failed-login counters (``web_login_failures``).

:class:`SQLiteMissionControl` is complete on its own (it owns the typed connection it is
given); :class:`rocketjob.store.sqlite.store.SQLiteStore` inherits it so that every query
added here is a method of the store at once, with nothing to forward.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from rocketjob.store.base import JobDoc, JobQuery
from rocketjob.store.sqlite.connection import Database
from rocketjob.store.sqlite.rows import (
    EPOCH,
    JOB_COLUMNS,
    from_micros,
    job_filters,
    job_from_row,
    to_micros,
)


class SQLiteMissionControl:
    """Mission Control queries on one SQLite store's connection."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._mission_control_ready = False

    def prepare_mission_control(self) -> None:
        """Create what Mission Control's queries need, once per store: the audit table
        and an index on ``(completed_at, state)`` (throughput and run-time figures). Idempotent;
        the first call on a large existing database builds the index (seconds)."""
        if self._mission_control_ready:
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
            conn.execute(
                "CREATE TABLE IF NOT EXISTS web_sessions (id TEXT PRIMARY KEY, "
                "user TEXT NOT NULL, fingerprint TEXT NOT NULL, created_at INTEGER NOT NULL, "
                "last_seen INTEGER NOT NULL)"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS web_login_failures (key TEXT PRIMARY KEY, "
                "failures INTEGER NOT NULL, last_at INTEGER NOT NULL)"
            )

        self._db.write(run)
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
        return str(self._db.write(lambda conn: conn.execute(sql, row).lastrowid))

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
        entries = [dict(zip(keys, row, strict=True)) for row in self._db.query(sql, params)]
        for entry in entries:
            entry["id"], entry["at"] = str(entry["id"]), from_micros(entry["at"])
        return entries

    # -- web sessions and failed logins -------------------------------------------------
    def add_web_session(self, session: Mapping[str, Any]) -> None:
        """Store ``{id, user, fingerprint, created_at, last_seen}``."""
        self.prepare_mission_control()
        row = (session["id"], session["user"], session["fingerprint"],
               to_micros(session["created_at"]), to_micros(session["last_seen"]))  # fmt: skip
        sql = "INSERT INTO web_sessions VALUES (?, ?, ?, ?, ?)"
        self._db.write(lambda conn: conn.execute(sql, row))

    def get_web_session(self, session_id: str) -> dict[str, Any] | None:
        """The session, or None."""
        self.prepare_mission_control()
        rows = self._db.query(
            "SELECT id, user, fingerprint, created_at, last_seen FROM web_sessions WHERE id = ?",
            (session_id,),
        )
        if not rows:
            return None
        found = dict(zip(_SESSION_KEYS, rows[0], strict=True))
        found["created_at"] = from_micros(found["created_at"])
        found["last_seen"] = from_micros(found["last_seen"])
        return found

    def touch_web_session(self, session_id: str, last_seen: dt.datetime) -> None:
        """Set the session's ``last_seen``."""
        self.prepare_mission_control()
        sql, row = "UPDATE web_sessions SET last_seen = ? WHERE id = ?", (
            to_micros(last_seen), session_id)  # fmt: skip
        self._db.write(lambda conn: conn.execute(sql, row))

    def delete_web_session(self, session_id: str) -> bool:
        """Revoke one session; False when there was none."""
        self.prepare_mission_control()
        sql = "DELETE FROM web_sessions WHERE id = ?"
        return bool(self._db.write(lambda conn: conn.execute(sql, (session_id,)).rowcount))

    def delete_web_sessions(self, user: str | None = None) -> int:
        """Revoke every session (of ``user`` when given); how many."""
        self.prepare_mission_control()
        if user is None:
            return int(
                self._db.write(lambda conn: conn.execute("DELETE FROM web_sessions").rowcount)
            )
        sql = "DELETE FROM web_sessions WHERE user = ?"
        return int(self._db.write(lambda conn: conn.execute(sql, (user,)).rowcount))

    def expire_web_sessions(
        self, last_seen_before: dt.datetime, created_before: dt.datetime
    ) -> int:
        """Delete idle or too old sessions; how many."""
        self.prepare_mission_control()
        sql = "DELETE FROM web_sessions WHERE last_seen < ? OR created_at < ?"
        row = (to_micros(last_seen_before), to_micros(created_before))
        return int(self._db.write(lambda conn: conn.execute(sql, row).rowcount))

    def add_login_failure(self, key: str, at: dt.datetime, forget_before: dt.datetime) -> int:
        """Count one failed login for ``key`` (one atomic upsert); the new count."""
        self.prepare_mission_control()
        sql = (
            "INSERT INTO web_login_failures (key, failures, last_at) VALUES (?, 1, ?) "
            "ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN last_at < ? THEN 1 "
            "ELSE failures + 1 END, last_at = excluded.last_at RETURNING failures"
        )
        row = (key, to_micros(at), to_micros(forget_before))
        return int(self._db.write(lambda conn: conn.execute(sql, row).fetchone()[0]))

    def get_login_failures(self, keys: Sequence[str]) -> dict[str, tuple[int, dt.datetime]]:
        """``{key: (failures, last_failure_at)}`` for the keys that have failures."""
        self.prepare_mission_control()
        if not keys:
            return {}
        marks = ", ".join("?" * len(keys))
        rows = self._db.query(
            f"SELECT key, failures, last_at FROM web_login_failures WHERE key IN ({marks})",
            list(keys),
        )
        return {key: (int(n), from_micros(last) or EPOCH) for key, n, last in rows}

    def clear_login_failures(self, key: str) -> None:
        """Forget ``key``'s failures."""
        self.prepare_mission_control()
        sql = "DELETE FROM web_login_failures WHERE key = ?"
        self._db.write(lambda conn: conn.execute(sql, (key,)))

    def count_jobs_by_class(self) -> dict[str, dict[str, int]]:
        """Number of jobs per class and state: ``{job_class: {state: n}}`` (a full
        index scan: callers cache it)."""
        rows = self._db.query(
            "SELECT job_class, 'queued', COUNT(*) FROM jobs WHERE state = 'queued' "
            "GROUP BY job_class UNION ALL SELECT job_class, state, COUNT(*) FROM jobs "
            "WHERE state <> 'queued' GROUP BY job_class, state"
        )
        counts: dict[str, dict[str, int]] = {}
        for job_class, state, count in rows:
            counts.setdefault(job_class, {})[state] = count
        return counts

    def count_scheduled(self, now: dt.datetime) -> dict[str, int]:
        """Queued jobs whose run_at is after ``now``, per class (a scan of the queued
        jobs' index: callers cache it)."""
        rows = self._db.query(
            "SELECT job_class, COUNT(*) FROM jobs INDEXED BY jobs_queue WHERE state = 'queued' "
            "AND run_at > ? GROUP BY job_class",
            [to_micros(now)],
        )
        return {job_class: int(count) for job_class, count in rows}

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
        base, params = job_filters(query)
        extra, extra_params = _scan_predicates(text, scheduled, now)
        order = "DESC" if query.descending else "ASC"
        limit = int(query.limit or 1000)
        boundary_rows = self._db.query(
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
            f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs WHERE {' AND '.join(where)} "
            f"ORDER BY id {order} LIMIT {limit + 1}"
        )
        docs = [job_from_row(row) for row in self._db.query(sql, window_params)]
        if len(docs) > limit:
            return docs[:limit], docs[limit - 1]["id"]
        return docs, boundary

    def finished_per_minute(self, since: dt.datetime) -> list[tuple[dt.datetime, str, int]]:
        """How many stored jobs finished (completed_at set) in each minute since
        ``since``, by state: ``(minute_start, state, count)`` rows, oldest first. Served
        by the ``(completed_at, state)`` index alone."""
        self.prepare_mission_control()
        rows = self._db.query(
            "SELECT completed_at / 60000000 AS minute, state, COUNT(*) FROM jobs "
            "WHERE completed_at >= ? GROUP BY minute, state ORDER BY minute",
            (to_micros(since),),
        )
        return [(EPOCH + dt.timedelta(minutes=m), state, n) for m, state, n in rows]

    def recent_timings(self, since: dt.datetime, limit: int = 5000) -> list[tuple[float, float]]:
        """``(run_seconds, wait_seconds)`` of the at most ``limit`` most recently
        finished stored jobs since ``since`` that had started: run = completed_at -
        started_at, wait = started_at - max(created_at, run_at)."""
        self.prepare_mission_control()
        rows = self._db.query(
            "SELECT completed_at - started_at, "
            "started_at - max(created_at, coalesce(run_at, created_at)) FROM jobs "
            "WHERE completed_at >= ? AND started_at IS NOT NULL "
            f"ORDER BY completed_at DESC LIMIT {int(limit)}",
            (to_micros(since),),
        )
        return [(run / 1e6, max(wait, 0) / 1e6) for run, wait in rows]


_SESSION_KEYS = ("id", "user", "fingerprint", "created_at", "last_seen")
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
        # One LIKE per column (case-insensitive for ASCII, as lower() is): half the time
        # of instr() over the columns concatenated and lowered, 45 ms against 110 ms for
        # the 20,000-job worst case of bin/web_speed. Wildcards in the text are escaped.
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in _TEXT_COLUMNS) + ")")
        params.extend([pattern] * len(_TEXT_COLUMNS))
    if scheduled is not None:
        moment = to_micros(now or dt.datetime.now(dt.UTC))
        future = "(run_at IS NOT NULL AND run_at > ?)"
        where.append(future if scheduled else "(run_at IS NULL OR run_at <= ?)")
        params.append(moment)
    return where, params
