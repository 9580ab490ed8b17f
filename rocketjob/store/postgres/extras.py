"""PostgreSQL store: singleton keys, throttled claims, batched deletes and dirmon entries
(a mixin of :class:`rocketjob.store.postgres.PostgresStore`).

* ``singleton_key``: a partial unique index over the active states (migration 2), so
  a second active job with the same key fails its INSERT or UPDATE atomically.
* Throttled claims: one transaction locks the rows of its limits in
  ``rocketjob_throttles`` (``FOR UPDATE``, in name order so claimers never deadlock),
  counts running jobs, then claims with ``FOR UPDATE SKIP LOCKED``. Claimers sharing a
  limit are serialised by that row lock until commit, and each count is a new
  READ COMMITTED snapshot taken after the lock, so it sees every earlier claim. No
  session-level advisory lock is held (safe behind PgBouncer).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

import psycopg
from psycopg import sql
from psycopg.types.json import Json

import rocketjob.store.postgres.schema as schema
from rocketjob.errors import StoreError, StoreUnavailable, ValidationError
from rocketjob.store import limits as lim
from rocketjob.store.base import ClaimLimit, JobDoc

P = ParamSpec("P")
R = TypeVar("R")


def _translated(fn: Callable[P, R]) -> Callable[P, R]:
    """Driver errors as StoreUnavailable / StoreError with one line (as the store does)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(
                f"PostgreSQL store unavailable: {schema.one_line(exc)}"
            ) from None
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL store: {schema.one_line(exc)}") from None

    return wrapper


_DIRMON_COLUMNS = ("name", "pattern", "job_class", "archive_directory", "properties",
                   "enabled", "last_error", "updated_at")  # fmt: skip


class PostgresExtras:
    """Behaviour support for the PostgreSQL store (see the module docstring)."""

    _jobs: sql.Composed
    _opts: Any
    _transaction: Any
    _single: Any
    _job_cols: Any
    _known_limits: set[str]

    def _table(self, name: str) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self._opts.schema), sql.Identifier(name))

    def _ensure_limit_rows(self, names: list[str]) -> None:
        """Create the lock rows of new limits once per store (autocommit, sorted)."""
        known = self.__dict__.setdefault("_known_limits", set())
        missing = sorted(set(names) - known)
        if not missing:
            return
        statement = sql.SQL(
            "INSERT INTO {} (name) SELECT unnest(%s::text[]) ORDER BY 1 ON CONFLICT DO NOTHING"
        ).format(self._table("rocketjob_throttles"))
        with self._single() as conn:
            conn.execute(statement, (missing,))
        known.update(missing)

    def _claim_limited(
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
        with self._transaction() as conn:
            conn.execute(lock.format(self._table("rocketjob_throttles")), (names,))
            count = sql.SQL(
                "SELECT job_class, count(*) FROM {} WHERE state = 'running' "
                "AND job_class = ANY(%s) GROUP BY job_class"
            ).format(self._jobs)
            running = conn.execute(count, (lim.limited_classes(limits),)).fetchall()
            counts = lim.counts_per_limit(limits, {cls: int(n) for cls, n in running})
            ids = self._pick_limited(conn, len(worker_names), job_classes, now, limits, counts)
            if not ids:
                return []
            return self._mark_running(conn, ids, worker_names, now)

    def _pick_limited(
        self,
        conn: Any,
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
        ).format(self._jobs)
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
        self, conn: Any, ids: list[str], worker_names: Sequence[str], now: dt.datetime
    ) -> list[JobDoc]:
        statement = sql.SQL(
            "UPDATE {jobs} AS j SET state = 'running', started_at = %(now)s,"
            " server_name = %(server)s, worker_name = (%(workers)s::text[])[p.n]"
            " FROM unnest(%(ids)s::text[]) WITH ORDINALITY AS p(id, n)"
            " WHERE j.id = p.id RETURNING {cols}, p.n"
        ).format(jobs=self._jobs, cols=self._job_cols("j"))
        params = {"now": now, "server": worker_names[0].rsplit(":", 1)[0],
                  "workers": list(worker_names), "ids": ids}  # fmt: skip
        rows = conn.execute(statement, params).fetchall()
        rows.sort(key=lambda row: row[-1])
        return [schema.job_from_row(row[:-1]) for row in rows]

    @_translated
    def delete_jobs(self, states: Collection[str], finished_before: dt.datetime, limit: int) -> int:
        """Delete at most ``limit`` finished jobs in ``states`` (one short statement)."""
        if not states or limit <= 0:
            return 0
        statement = sql.SQL(
            "DELETE FROM {jobs} WHERE id IN (SELECT id FROM {jobs} WHERE state = ANY(%s) "
            "AND completed_at < %s LIMIT %s FOR UPDATE SKIP LOCKED)"
        ).format(jobs=self._jobs)
        with self._single() as conn:
            return int(conn.execute(statement, (list(states), finished_before, limit)).rowcount)

    # -- dirmon entries ------------------------------------------------------------------
    @_translated
    def insert_dirmon_entry(self, entry: Mapping[str, Any]) -> None:
        """Store a new dirmon entry; a duplicate name raises ValidationError."""
        values = _dirmon_values(entry)
        statement = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (name) DO NOTHING").format(
            self._table("rocketjob_dirmon_entries"),
            sql.SQL(", ").join(map(sql.Identifier, _DIRMON_COLUMNS)),
            sql.SQL(", ").join(sql.Placeholder() * len(_DIRMON_COLUMNS)),
        )
        with self._single() as conn:
            inserted = conn.execute(statement, [values[k] for k in _DIRMON_COLUMNS]).rowcount
        if not inserted:
            raise ValidationError(f"a dirmon entry named {entry['name']!r} exists")

    @_translated
    def list_dirmon_entries(self) -> list[dict[str, Any]]:
        """Every dirmon entry, by name."""
        statement = sql.SQL("SELECT {} FROM {} ORDER BY name").format(
            sql.SQL(", ").join(map(sql.Identifier, _DIRMON_COLUMNS)),
            self._table("rocketjob_dirmon_entries"),
        )
        with self._single() as conn:
            rows = conn.execute(statement).fetchall()
        entries = [dict(zip(_DIRMON_COLUMNS, row, strict=True)) for row in rows]
        for entry in entries:
            entry["updated_at"] = entry["updated_at"].astimezone(dt.UTC)
        return entries

    @_translated
    def update_dirmon_entry(self, name: str, changes: Mapping[str, Any]) -> bool:
        """Apply ``changes`` to the entry named ``name``; False if there is none."""
        schema.check_columns(changes, _DIRMON_COLUMNS[1:])
        if not changes:
            return any(entry["name"] == name for entry in self.list_dirmon_entries())
        values = _dirmon_values({**changes, "name": name})
        statement = sql.SQL("UPDATE {} SET {} WHERE name = %s").format(
            self._table("rocketjob_dirmon_entries"),
            sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in changes),
        )
        with self._single() as conn:
            return bool(conn.execute(statement, [values[k] for k in changes] + [name]).rowcount)

    @_translated
    def delete_dirmon_entry(self, name: str) -> bool:
        """Delete the entry named ``name``; False if there is none."""
        statement = sql.SQL("DELETE FROM {} WHERE name = %s").format(
            self._table("rocketjob_dirmon_entries")
        )
        with self._single() as conn:
            return bool(conn.execute(statement, (name,)).rowcount)


def _dirmon_values(entry: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(entry)
    if "properties" in values or "pattern" in values:
        values["properties"] = Json(values.get("properties") or {})
    values.setdefault("updated_at", dt.datetime.now(dt.UTC))
    values["updated_at"] = values["updated_at"] or dt.datetime.now(dt.UTC)
    values.setdefault("enabled", True)
    values.setdefault("last_error", None)
    return values
