"""PostgreSQL store: the optional Mission Control methods
(:class:`rocketjob.store.base.MissionControlStore`). :class:`PostgresMissionControl` is
complete on its own (it owns the typed pool it is given);
:class:`rocketjob.store.postgres.store.PostgresStore` inherits it so that every query
added here is a method of the store at once, with nothing to forward.

* ``prepare_mission_control`` creates, once per store and race-safe across processes (a
  transaction-level advisory lock, so it works behind PgBouncer in transaction mode), the
  table ``rocketjob_audit`` (``bigserial`` ids: they grow with time) and the partial index
  ``rocketjob_jobs_finished_state (completed_at, state) WHERE completed_at IS NOT NULL``
  that serves the throughput and run-time figures, and the tables
  ``rocketjob_web_sessions`` (server-side sessions) and ``rocketjob_web_login_failures``
  (failed-login counters, one atomic upsert per failure).
* ``scan_jobs`` bounds its unindexed predicates (free text, scheduled or not) to a window
  of at most ``scan_limit`` jobs in id order, found through the ``(state, id)`` or
  ``(job_class, state, id)`` index, so a page costs the same at any table size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from psycopg import sql

import rocketjob.store.postgres.schema as schema
from rocketjob.store.base import JobDoc, JobQuery
from rocketjob.store.postgres.connection import Database
from rocketjob.store.postgres.connection import translated as _translated

_SESSION_KEYS = ("id", "user", "fingerprint", "created_at", "last_seen")
_AUDIT_KEYS = ("id", "at", "user", "action", "target", "outcome", "detail")
#: Columns the free-text search of scan_jobs looks in (JSON columns as their text).
_TEXT_COLUMNS = ("id", "job_class", "description", "arguments", "exception", "worker_name",
                 "fields")  # fmt: skip


#: Planner settings for one listing transaction (see PostgresMissionControl._listing).
_ORDERED_WALK = "SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off"


class PostgresMissionControl:
    """Mission Control's listings, counts, figures and audit log (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # The pool's helpers under the names the queries below use.
        self._jobs, self._opts, self._job_cols = db.jobs, db.opts, db.job_cols
        self._single, self._transaction = db.single, db.transaction
        self._mission_control_ready = False

    @contextmanager
    def _listing(self, query: JobQuery) -> Iterator[Any]:
        """A pooled connection for a listing ordered by id. When an index returns the
        listing's rows in id order (one state other than queued, with or without a
        class, or no state at all), the statements run in a transaction with sorts and
        bitmap scans off, so that walk, stopped by the LIMIT, is the plan whatever the
        planner statistics say: without statistics (a burst into a fresh table) the
        planner guessed a handful of rows and read and sorted every job of the state.
        Queued jobs have no id-ordered index of their own: those listings, and listings
        by id, keep the planner's choice."""
        states = list(query.states) if query.states is not None else None
        ordered = query.ids is None and (
            states is None or (len(states) == 1 and states != ["queued"])
        )
        if not ordered:
            with self._single() as conn:
                yield conn
            return
        with self._transaction() as conn:
            conn.execute(_ORDERED_WALK)
            yield conn

    def _audit_table(self) -> sql.Composed:
        return sql.SQL("{}.rocketjob_audit").format(sql.Identifier(self._opts.schema))

    @_translated
    def prepare_mission_control(self) -> None:
        """Create the audit table and the finished-jobs index; idempotent. The first call
        on a large existing table builds the index (seconds)."""
        if self._mission_control_ready:
            return
        ident = sql.Identifier(self._opts.schema)
        with self._transaction() as conn:
            lock = f"rocketjob:{self._opts.schema}:mission_control"
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock,))
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, "
                    'at timestamptz NOT NULL, "user" text NOT NULL, action text NOT NULL, '
                    "target text NOT NULL, outcome text NOT NULL, detail text NOT NULL)"
                ).format(self._audit_table())
            )
            conn.execute(
                sql.SQL(
                    "CREATE INDEX IF NOT EXISTS rocketjob_jobs_finished_state ON "
                    "{}.rocketjob_jobs (completed_at, state) WHERE completed_at IS NOT NULL"
                ).format(ident)
            )
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {}.rocketjob_web_sessions (id text PRIMARY KEY, "
                    '"user" text NOT NULL, fingerprint text NOT NULL, '
                    "created_at timestamptz NOT NULL, last_seen timestamptz NOT NULL)"
                ).format(ident)
            )
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {}.rocketjob_web_login_failures (key text "
                    "PRIMARY KEY, failures integer NOT NULL, last_at timestamptz NOT NULL)"
                ).format(ident)
            )
        self._mission_control_ready = True

    @_translated
    def add_audit(self, entry: Mapping[str, Any]) -> str:
        """Append one audit entry ``{at, user, action, target, outcome, detail}``; its id."""
        self.prepare_mission_control()
        statement = sql.SQL(
            'INSERT INTO {} (at, "user", action, target, outcome, detail) '
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id"
        ).format(self._audit_table())
        row = (entry["at"], entry["user"], entry["action"], entry["target"],
               entry.get("outcome", "ok"), entry.get("detail", ""))  # fmt: skip
        with self._single() as conn:
            inserted = conn.execute(statement, row).fetchone()
        assert inserted is not None  # INSERT ... RETURNING returns the row
        return str(inserted[0])

    @_translated
    def list_audit(self, limit: int = 100, after: str | None = None) -> list[dict[str, Any]]:
        """Audit entries newest first (keyset: ``after`` is the last id of the previous
        page); each has ``id`` (str) and the keys given to :meth:`add_audit`."""
        self.prepare_mission_control()
        statement = sql.SQL(
            'SELECT id, at, "user", action, target, outcome, detail FROM {}'
        ).format(self._audit_table())
        params: list[Any] = []
        if after is not None:
            statement += sql.SQL(" WHERE id < %s")
            params.append(int(after))
        statement += sql.SQL(" ORDER BY id DESC LIMIT {}").format(sql.Literal(int(limit)))
        with self._single() as conn:
            rows = conn.execute(statement, params).fetchall()
        entries = [dict(zip(_AUDIT_KEYS, row, strict=True)) for row in rows]
        for entry in entries:
            entry["id"], entry["at"] = str(entry["id"]), entry["at"].astimezone(dt.UTC)
        return entries

    # -- web sessions and failed logins -------------------------------------------------
    def _web(self, statement: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement on ``{sessions}`` / ``{failures}``: its rows, or the number of
        rows it changed."""
        self.prepare_mission_control()
        ident = sql.Identifier(self._opts.schema)
        query = sql.SQL(statement).format(
            sessions=sql.SQL("{}.rocketjob_web_sessions").format(ident),
            failures=sql.SQL("{}.rocketjob_web_login_failures").format(ident),
        )
        with self._single() as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else cursor.rowcount

    @_translated
    def add_web_session(self, session: Mapping[str, Any]) -> None:
        """Store ``{id, user, fingerprint, created_at, last_seen}``."""
        self._web(
            "INSERT INTO {sessions} VALUES (%s, %s, %s, %s, %s)",
            [session[k] for k in _SESSION_KEYS],
        )

    @_translated
    def get_web_session(self, session_id: str) -> dict[str, Any] | None:
        """The session, or None."""
        rows = self._web(
            'SELECT id, "user", fingerprint, created_at, last_seen FROM {sessions} '
            "WHERE id = %s", (session_id,),
        )  # fmt: skip
        if not rows:
            return None
        found = dict(zip(_SESSION_KEYS, rows[0], strict=True))
        for key in ("created_at", "last_seen"):
            found[key] = found[key].astimezone(dt.UTC)
        return found

    @_translated
    def touch_web_session(self, session_id: str, last_seen: dt.datetime) -> None:
        """Set the session's ``last_seen``."""
        self._web("UPDATE {sessions} SET last_seen = %s WHERE id = %s", (last_seen, session_id))

    @_translated
    def delete_web_session(self, session_id: str) -> bool:
        """Revoke one session; False when there was none."""
        return bool(self._web("DELETE FROM {sessions} WHERE id = %s", (session_id,)))

    @_translated
    def delete_web_sessions(self, user: str | None = None) -> int:
        """Revoke every session (of ``user`` when given); how many."""
        if user is None:
            return int(self._web("DELETE FROM {sessions}"))
        return int(self._web('DELETE FROM {sessions} WHERE "user" = %s', (user,)))

    @_translated
    def expire_web_sessions(
        self, last_seen_before: dt.datetime, created_before: dt.datetime
    ) -> int:
        """Delete idle or too old sessions; how many."""
        return int(self._web(
            "DELETE FROM {sessions} WHERE last_seen < %s OR created_at < %s",
            (last_seen_before, created_before),
        ))  # fmt: skip

    @_translated
    def add_login_failure(self, key: str, at: dt.datetime, forget_before: dt.datetime) -> int:
        """Count one failed login for ``key`` (one atomic upsert); the new count."""
        rows = self._web(
            "INSERT INTO {failures} AS f (key, failures, last_at) VALUES (%s, 1, %s) "
            "ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN f.last_at < %s THEN 1 "
            "ELSE f.failures + 1 END, last_at = excluded.last_at RETURNING failures",
            (key, at, forget_before),
        )
        return int(rows[0][0])

    @_translated
    def get_login_failures(self, keys: Sequence[str]) -> dict[str, tuple[int, dt.datetime]]:
        """``{key: (failures, last_failure_at)}`` for the keys that have failures."""
        rows = self._web(
            "SELECT key, failures, last_at FROM {failures} WHERE key = ANY(%s)", (list(keys),)
        )
        return {key: (int(n), last.astimezone(dt.UTC)) for key, n, last in rows}

    @_translated
    def clear_login_failures(self, key: str) -> None:
        """Forget ``key``'s failures."""
        self._web("DELETE FROM {failures} WHERE key = %s", (key,))

    @_translated
    def count_jobs_by_class(self) -> dict[str, dict[str, int]]:
        """``{job_class: {state: n}}`` over every job (index-only scans of the claim and
        listing indexes: callers cache it)."""
        statement = sql.SQL(
            "SELECT job_class, 'queued', count(*) FROM {jobs} WHERE state = 'queued' GROUP BY 1"
            " UNION ALL SELECT job_class, state, count(*) FROM {jobs} WHERE state <> 'queued'"
            " GROUP BY 1, 2"
        ).format(jobs=self._jobs)
        with self._single() as conn:
            rows = conn.execute(statement).fetchall()
        counts: dict[str, dict[str, int]] = {}
        for job_class, state, count in rows:
            counts.setdefault(job_class, {})[state] = int(count)
        return counts

    @_translated
    def count_scheduled(self, now: dt.datetime) -> dict[str, int]:
        """Queued jobs whose run_at is after ``now``, per class (callers cache it)."""
        statement = sql.SQL(
            "SELECT job_class, count(*) FROM {jobs} WHERE state = 'queued' AND run_at > %s"
            " GROUP BY 1"
        ).format(jobs=self._jobs)
        with self._single() as conn:
            rows = conn.execute(statement, (now,)).fetchall()
        return {job_class: int(count) for job_class, count in rows}

    @_translated
    def scan_jobs(
        self,
        query: JobQuery,
        *,
        text: str | None = None,
        scheduled: bool | None = None,
        now: dt.datetime | None = None,
        scan_limit: int = 20_000,
    ) -> tuple[list[JobDoc], str | None]:
        """Like ``find_jobs``, with the predicates no index serves (``text``: a
        case-insensitive substring of the id, class, description, arguments, exception,
        worker name or custom fields; ``scheduled``: queued with run_at after ``now``, or
        not) checked on at most ``scan_limit`` jobs in id order. Returns the matches (at
        most ``query.limit``) and the id to continue after (None at the end)."""
        base, params = job_filters(query)
        extra, extra_params = _scan_predicates(text, scheduled, now)
        order = sql.SQL("DESC" if query.descending else "ASC")
        limit = int(query.limit or 1000)
        boundary_sql = sql.SQL("SELECT id FROM {} WHERE {} ORDER BY id {} LIMIT 1 OFFSET %s")
        with self._listing(query) as conn:
            found = conn.execute(
                boundary_sql.format(self._jobs, base, order), [*params, max(scan_limit - 1, 0)]
            ).fetchone()
            boundary = found[0] if found else None
            where = [base, *extra]
            window_params = [*params, *extra_params]
            if boundary is not None:
                where.append(sql.SQL("id >= %s" if query.descending else "id <= %s"))
                window_params.append(boundary)
            statement = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY id {} LIMIT {}").format(
                self._job_cols(), self._jobs, sql.SQL(" AND ").join(where), order,
                sql.Literal(limit + 1),
            )  # fmt: skip
            docs = [schema.job_from_row(row) for row in conn.execute(statement, window_params)]
        if len(docs) > limit:
            return docs[:limit], docs[limit - 1]["id"]
        return docs, boundary

    @_translated
    def finished_per_minute(self, since: dt.datetime) -> list[tuple[dt.datetime, str, int]]:
        """``(minute_start, state, count)`` of stored jobs finished at or after ``since``,
        oldest minute first (served by the ``(completed_at, state)`` index)."""
        self.prepare_mission_control()
        statement = sql.SQL(
            "SELECT date_trunc('minute', completed_at AT TIME ZONE 'UTC') AS minute, state, "
            "count(*) FROM {} WHERE completed_at >= %s GROUP BY 1, 2 ORDER BY 1, 2"
        ).format(self._jobs)
        with self._single() as conn:
            rows = conn.execute(statement, (since,)).fetchall()
        return [(minute.replace(tzinfo=dt.UTC), state, int(n)) for minute, state, n in rows]

    @_translated
    def recent_timings(self, since: dt.datetime, limit: int = 5000) -> list[tuple[float, float]]:
        """``(run_seconds, wait_seconds)`` of the at most ``limit`` most recently finished
        stored jobs since ``since`` that had started: run = completed_at - started_at,
        wait = started_at - max(created_at, run_at)."""
        self.prepare_mission_control()
        statement = sql.SQL(
            "SELECT extract(epoch FROM completed_at - started_at), "
            "extract(epoch FROM started_at - greatest(created_at, coalesce(run_at, created_at))) "
            "FROM {} WHERE completed_at >= %s AND started_at IS NOT NULL "
            "ORDER BY completed_at DESC LIMIT {}"
        ).format(self._jobs, sql.Literal(int(limit)))
        with self._single() as conn:
            rows = conn.execute(statement, (since,)).fetchall()
        return [(float(run), max(float(wait), 0.0)) for run, wait in rows]


def job_filters(query: JobQuery) -> tuple[sql.Composable, list[Any]]:
    """The WHERE clause (indexed filters and keyset) of a job listing."""
    where: list[sql.Composable] = [sql.SQL("TRUE")]
    params: list[Any] = []
    for column, values in (("state", query.states), ("id", query.ids)):
        if values is not None and len(values) == 1:
            # Equality, not = ANY: only then does the (state, id) index return the rows
            # in id order, so the LIMIT stops the walk whatever the statistics say (with
            # = ANY, an unanalyzed table read and sorted every job of the state).
            where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(next(iter(values)))
        elif values is not None:
            where.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(column)))
            params.append(list(values))
    if query.states and "queued" not in query.states:
        # The listing indexes hold every state but queued; a generic (prepared) plan can
        # use them only when the query states their condition itself.
        where.append(sql.SQL("state <> 'queued'"))
    for column, value in (("job_class", query.job_class), ("server_name", query.server_name)):
        if value is not None:
            where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    if query.after is not None:
        where.append(sql.SQL("id < %s" if query.descending else "id > %s"))
        params.append(query.after)
    return sql.SQL(" AND ").join(where), params


def _scan_predicates(
    text: str | None, scheduled: bool | None, now: dt.datetime | None
) -> tuple[Sequence[sql.Composable], list[Any]]:
    """The unindexed predicates of :meth:`PostgresMissionControl.scan_jobs`."""
    where: list[sql.Composable] = []
    params: list[Any] = []
    if text:
        haystack = sql.SQL(", ").join(
            sql.SQL("{}::text").format(sql.Identifier(column)) for column in _TEXT_COLUMNS
        )
        where.append(sql.SQL("strpos(lower(concat_ws(' ', {})), %s) > 0").format(haystack))
        params.append(text.lower())
    if scheduled is not None:
        future = "(run_at IS NOT NULL AND run_at > %s)"
        where.append(sql.SQL(future if scheduled else "(run_at IS NULL OR run_at <= %s)"))
        params.append(now or dt.datetime.now(dt.UTC))
    return where, params
