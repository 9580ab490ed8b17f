"""PostgreSQL store: dirmon entries (see rocketjob.included.dirmon), in their own table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from psycopg import sql
from psycopg.types.json import Json

import rocketjob.store.postgres.schema as schema
from rocketjob.errors import ValidationError
from rocketjob.store.postgres.connection import Database, translated

_DIRMON_COLUMNS = ("name", "pattern", "job_class", "archive_directory", "properties",
                   "enabled", "last_error", "updated_at")  # fmt: skip


class Dirmon:
    """The dirmon entries of one PostgreSQL store."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @translated
    def insert(self, entry: Mapping[str, Any]) -> None:
        """Store a new dirmon entry; a duplicate name raises ValidationError."""
        values = _dirmon_values(entry)
        statement = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (name) DO NOTHING").format(
            self._db.table("rocketjob_dirmon_entries"),
            sql.SQL(", ").join(map(sql.Identifier, _DIRMON_COLUMNS)),
            sql.SQL(", ").join(sql.Placeholder() * len(_DIRMON_COLUMNS)),
        )
        with self._db.single() as conn:
            inserted = conn.execute(statement, [values[k] for k in _DIRMON_COLUMNS]).rowcount
        if not inserted:
            raise ValidationError(f"a dirmon entry named {entry['name']!r} exists")

    @translated
    def entries(self) -> list[dict[str, Any]]:
        """Every dirmon entry, by name."""
        statement = sql.SQL("SELECT {} FROM {} ORDER BY name").format(
            sql.SQL(", ").join(map(sql.Identifier, _DIRMON_COLUMNS)),
            self._db.table("rocketjob_dirmon_entries"),
        )
        with self._db.single() as conn:
            rows = conn.execute(statement).fetchall()
        entries = [dict(zip(_DIRMON_COLUMNS, row, strict=True)) for row in rows]
        for entry in entries:
            entry["updated_at"] = entry["updated_at"].astimezone(dt.UTC)
        return entries

    @translated
    def update(self, name: str, changes: Mapping[str, Any]) -> bool:
        """Apply ``changes`` to the entry named ``name``; False if there is none."""
        schema.check_columns(changes, _DIRMON_COLUMNS[1:])
        if not changes:
            return any(entry["name"] == name for entry in self.entries())
        values = _dirmon_values({**changes, "name": name})
        statement = sql.SQL("UPDATE {} SET {} WHERE name = %s").format(
            self._db.table("rocketjob_dirmon_entries"),
            sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in changes),
        )
        with self._db.single() as conn:
            return bool(conn.execute(statement, [values[k] for k in changes] + [name]).rowcount)

    @translated
    def delete(self, name: str) -> bool:
        """Delete the entry named ``name``; False if there is none."""
        statement = sql.SQL("DELETE FROM {} WHERE name = %s").format(
            self._db.table("rocketjob_dirmon_entries")
        )
        with self._db.single() as conn:
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
