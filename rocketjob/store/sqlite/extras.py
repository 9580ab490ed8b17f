"""SQLite store: singleton keys, throttled claims, batched deletes and dirmon entries
(a mixin of :class:`rocketjob.store.sqlite.SQLiteStore`).

* ``singleton_key``: a partial unique index over the active states, so a second active
  job with the same key fails its INSERT (or UPDATE) inside the same transaction.
* Throttled claims run in the claim's ``BEGIN IMMEDIATE`` transaction: SQLite has one
  writer at a time, so counting running jobs and claiming are one serialised step.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from rocketjob import codec
from rocketjob.errors import DuplicateJob, ValidationError
from rocketjob.store import limits as lim
from rocketjob.store.base import ClaimLimit, JobDoc

#: Schema version 2: statements applied after version 1.
MIGRATION_2 = """
ALTER TABLE jobs ADD COLUMN singleton_key TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS jobs_singleton ON jobs (singleton_key)
    WHERE singleton_key IS NOT NULL AND state IN ('queued', 'running', 'paused');
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (state, completed_at)
    WHERE completed_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS dirmon_entries (
    name TEXT PRIMARY KEY,
    pattern TEXT NOT NULL,
    job_class TEXT NOT NULL,
    archive_directory TEXT NOT NULL,
    properties TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    last_error TEXT,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
"""
_DIRMON_COLUMNS = ("name", "pattern", "job_class", "archive_directory", "properties",
                   "enabled", "last_error", "updated_at")  # fmt: skip


def duplicate_error(exc: sqlite3.IntegrityError) -> Exception | None:
    """DuplicateJob when ``exc`` is the singleton index refusing a row, else None."""
    if "singleton_key" in str(exc):
        return DuplicateJob(f"duplicate singleton_key: {exc}")
    return None


def _micros(value: dt.datetime | None) -> int | None:
    from rocketjob.store.sqlite.rows import to_micros

    return to_micros(value)


class SQLiteExtras:
    """Behaviour support for the SQLite store (see the module docstring)."""

    _write: Any
    _query: Any

    def _claim_limited(
        self,
        conn: sqlite3.Connection,
        worker_names: Sequence[str],
        classes: Sequence[str],
        now_us: int | None,
        limits: Sequence[ClaimLimit],
    ) -> list[str]:
        """Inside the claim transaction: the ids to claim, in order, within ``limits``."""
        limited = lim.limited_classes(limits)
        rows = conn.execute(
            "SELECT job_class, COUNT(*) FROM jobs INDEXED BY jobs_running WHERE state = 'running' "
            f"AND job_class IN ({', '.join('?' * len(limited))}) GROUP BY job_class",
            limited,
        ).fetchall()
        counts = lim.counts_per_limit(limits, dict(rows))
        picked: list[str] = []
        while len(picked) < len(worker_names):
            allowed = lim.allowed_classes(classes, limits, counts)
            if not allowed:
                break
            want = len(worker_names) - len(picked)
            candidates = conn.execute(
                "SELECT id, job_class FROM jobs INDEXED BY jobs_queue WHERE state = 'queued' "
                f"AND job_class IN ({', '.join('?' * len(allowed))}) "
                "AND (run_at IS NULL OR run_at <= ?) "
                f"AND id NOT IN ({', '.join('?' * len(picked))}) ORDER BY priority, id LIMIT ?",
                (*allowed, now_us, *picked, want),
            ).fetchall()
            picked += [job_id for job_id, cls in candidates if lim.take(cls, limits, counts)]
            if len(candidates) < want:
                break
        return picked

    def delete_jobs(self, states: Collection[str], finished_before: dt.datetime, limit: int) -> int:
        """Delete at most ``limit`` finished jobs in ``states`` (one short write)."""
        if not states or limit <= 0:
            return 0
        marks = ", ".join("?" * len(states))
        sql = (
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN "
            f"({marks}) AND completed_at < ? LIMIT ?)"
        )
        params = (*states, _micros(finished_before), int(limit))
        return int(self._write(lambda conn: conn.execute(sql, params).rowcount))

    # -- dirmon entries ------------------------------------------------------------------
    def insert_dirmon_entry(self, entry: Mapping[str, Any]) -> None:
        """Store a new dirmon entry; a duplicate name raises ValidationError."""
        row = _dirmon_row(entry)
        sql = (
            f"INSERT INTO dirmon_entries ({', '.join(_DIRMON_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_DIRMON_COLUMNS))})"
        )
        try:
            self._write(lambda conn: conn.execute(sql, row))
        except Exception as exc:
            if "UNIQUE" in str(exc) or "unique" in str(exc):
                raise ValidationError(f"a dirmon entry named {entry['name']!r} exists") from None
            raise

    def list_dirmon_entries(self) -> list[dict[str, Any]]:
        """Every dirmon entry, by name."""
        rows = self._query(f"SELECT {', '.join(_DIRMON_COLUMNS)} FROM dirmon_entries ORDER BY name")
        return [_dirmon_from_row(row) for row in rows]

    def update_dirmon_entry(self, name: str, changes: Mapping[str, Any]) -> bool:
        """Apply ``changes`` to the entry named ``name``; False if there is none."""
        unknown = set(changes) - set(_DIRMON_COLUMNS[1:])
        if unknown:
            raise ValueError(f"unknown dirmon field(s) {sorted(unknown)}")
        if not changes:
            return any(entry["name"] == name for entry in self.list_dirmon_entries())
        full = _dirmon_row({**_DIRMON_DEFAULTS, **changes, "name": name})
        values = dict(zip(_DIRMON_COLUMNS, full, strict=True))
        sets = ", ".join(f"{key} = ?" for key in changes)
        params = [values[key] for key in changes] + [name]
        sql = f"UPDATE dirmon_entries SET {sets} WHERE name = ?"
        return bool(self._write(lambda conn: conn.execute(sql, params).rowcount))

    def delete_dirmon_entry(self, name: str) -> bool:
        """Delete the entry named ``name``; False if there is none."""
        sql = "DELETE FROM dirmon_entries WHERE name = ?"
        return bool(self._write(lambda conn: conn.execute(sql, (name,)).rowcount))


_DIRMON_DEFAULTS: dict[str, Any] = {
    "pattern": "", "job_class": "", "archive_directory": "", "properties": {},
    "enabled": True, "last_error": None, "updated_at": None,
}  # fmt: skip


def _dirmon_row(entry: Mapping[str, Any]) -> tuple[Any, ...]:
    values = {**_DIRMON_DEFAULTS, **entry}
    values["properties"] = codec.dumps(values["properties"] or {})
    values["enabled"] = int(bool(values["enabled"]))
    values["updated_at"] = _micros(values["updated_at"] or dt.datetime.now(dt.UTC))
    return tuple(values[key] for key in _DIRMON_COLUMNS)


def _dirmon_from_row(row: Sequence[Any]) -> dict[str, Any]:
    from rocketjob.store.sqlite.rows import from_micros

    entry = dict(zip(_DIRMON_COLUMNS, row, strict=True))
    entry["properties"] = codec.loads(entry["properties"])
    entry["enabled"] = bool(entry["enabled"])
    entry["updated_at"] = from_micros(entry["updated_at"])
    return entry


__all__ = ["MIGRATION_2", "JobDoc", "SQLiteExtras", "duplicate_error"]
