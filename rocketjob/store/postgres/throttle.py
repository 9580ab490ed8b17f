"""PostgreSQL store: throttled claims (jobs claimed within ClaimLimits).

One transaction locks the rows of its limits in ``rocketjob_throttles`` (``FOR UPDATE``,
in name order so claimers never deadlock), counts running jobs, then claims with ``FOR
UPDATE SKIP LOCKED``. Claimers sharing a limit are serialised by that row lock until
commit, and each count is a new READ COMMITTED snapshot taken after the lock, so it sees
every earlier claim. No session-level advisory lock is held (safe behind PgBouncer).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

from psycopg import sql

import rocketjob.store.limits as lim
import rocketjob.store.postgres.schema as schema
from rocketjob.store.base import ClaimLimit, JobDoc
from rocketjob.store.postgres.connection import Conn, Database
from rocketjob.store.postgres.sql import STARTED


class Throttle:
    """Throttled claims on one PostgreSQL store's pool."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._known_limits: set[str] = set()  # limits whose lock row exists

    def _ensure_limit_rows(self, names: list[str]) -> None:
        """Create the lock rows of new limits once per store (autocommit, sorted)."""
        missing = sorted(set(names) - self._known_limits)
        if not missing:
            return
        statement = sql.SQL(
            "INSERT INTO {} (name) SELECT unnest(%s::text[]) ORDER BY 1 ON CONFLICT DO NOTHING"
        ).format(self._db.table("rocketjob_throttles"))
        with self._db.single() as conn:
            conn.execute(statement, (missing,))
        self._known_limits.update(missing)

    def claim(
        self,
        worker_names: Sequence[str],
        job_classes: Collection[str],
        now: dt.datetime,
        limits: Sequence[ClaimLimit],
    ) -> list[JobDoc]:
        """Claim within ``limits``: lock the limits' rows, count, pick, update."""
        names = sorted(limit.name for limit in limits)
        self._ensure_limit_rows(names)
        lock = sql.SQL("SELECT name FROM {} WHERE name = ANY(%s) ORDER BY name FOR UPDATE")
        with self._db.transaction() as conn:
            conn.execute(lock.format(self._db.table("rocketjob_throttles")), (names,))
            count = sql.SQL(
                "SELECT job_class, count(*) FROM {} WHERE state = 'running' "
                "AND job_class = ANY(%s) GROUP BY job_class"
            ).format(self._db.jobs)
            running = conn.execute(count, (lim.limited_classes(limits),)).fetchall()
            counts = lim.counts_per_limit(limits, {cls: int(n) for cls, n in running})
            # the picks walk the claim index whatever the statistics say (postgres/sql.py)
            conn.execute("SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off")
            ids = self._pick_limited(conn, len(worker_names), job_classes, now, limits, counts)
            if not ids:
                return []
            return self._mark_running(conn, ids, worker_names, now)

    def _pick_limited(
        self,
        conn: Conn,
        want: int,
        job_classes: Collection[str],
        now: dt.datetime,
        limits: Sequence[ClaimLimit],
        counts: dict[str, int],
    ) -> list[str]:
        select = sql.SQL(
            "SELECT id, job_class FROM {} WHERE state = 'queued' AND job_class = ANY(%s) "
            "AND (run_at IS NULL OR run_at <= %s) AND NOT (id = ANY(%s)) "
            "ORDER BY priority, id LIMIT %s FOR UPDATE SKIP LOCKED"
        ).format(self._db.jobs)
        picked: list[str] = []
        while len(picked) < want:
            allowed = lim.allowed_classes(job_classes, limits, counts)
            if not allowed:
                break
            need = want - len(picked)
            rows = conn.execute(select, (allowed, now, picked, need)).fetchall()
            picked += [job_id for job_id, cls in rows if lim.take(cls, limits, counts)]
            if len(rows) < need:
                break
        return picked

    def _mark_running(
        self, conn: Conn, ids: list[str], worker_names: Sequence[str], now: dt.datetime
    ) -> list[JobDoc]:
        statement = sql.SQL(
            "UPDATE {jobs} AS j SET state = {started}, started_at = %(now)s,"
            " server_name = %(server)s, worker_name = (%(workers)s::text[])[p.n]"
            " FROM unnest(%(ids)s::text[]) WITH ORDINALITY AS p(id, n)"
            " WHERE j.id = p.id RETURNING {cols}, p.n"
        ).format(jobs=self._db.jobs, cols=self._db.job_cols("j"), started=STARTED)
        params = {"now": now, "server": worker_names[0].rsplit(":", 1)[0],
                  "workers": list(worker_names), "ids": ids}  # fmt: skip
        rows = conn.execute(statement, params).fetchall()
        rows.sort(key=lambda row: row[-1])
        return [schema.job_from_row(row[:-1]) for row in rows]
