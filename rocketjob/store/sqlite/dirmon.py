"""SQLite store: dirmon entries (see rocketjob.included.dirmon), in their own table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from rocketjob import codec
from rocketjob.errors import ValidationError
from rocketjob.store.sqlite.connection import Database
from rocketjob.store.sqlite.rows import from_micros, to_micros

_DIRMON_COLUMNS = ("name", "pattern", "job_class", "archive_directory", "properties",
                   "enabled", "last_error", "updated_at")  # fmt: skip


class Dirmon:
    """The dirmon entries of one SQLite store."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def insert(self, entry: Mapping[str, Any]) -> None:
        """Store a new dirmon entry; a duplicate name raises ValidationError."""
        row = _dirmon_row(entry)
        sql = (
            f"INSERT INTO dirmon_entries ({', '.join(_DIRMON_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_DIRMON_COLUMNS))})"
        )
        try:
            self._db.write(lambda conn: conn.execute(sql, row))
        except Exception as exc:
            if "UNIQUE" in str(exc) or "unique" in str(exc):
                raise ValidationError(f"a dirmon entry named {entry['name']!r} exists") from None
            raise

    def entries(self) -> list[dict[str, Any]]:
        """Every dirmon entry, by name."""
        rows = self._db.query(
            f"SELECT {', '.join(_DIRMON_COLUMNS)} FROM dirmon_entries ORDER BY name"
        )
        return [_dirmon_from_row(row) for row in rows]

    def update(self, name: str, changes: Mapping[str, Any]) -> bool:
        """Apply ``changes`` to the entry named ``name``; False if there is none."""
        unknown = set(changes) - set(_DIRMON_COLUMNS[1:])
        if unknown:
            raise ValueError(f"unknown dirmon field(s) {sorted(unknown)}")
        if not changes:
            return any(entry["name"] == name for entry in self.entries())
        full = _dirmon_row({**_DIRMON_DEFAULTS, **changes, "name": name})
        values = dict(zip(_DIRMON_COLUMNS, full, strict=True))
        sets = ", ".join(f"{key} = ?" for key in changes)
        params = [values[key] for key in changes] + [name]
        sql = f"UPDATE dirmon_entries SET {sets} WHERE name = ?"
        return bool(self._db.write(lambda conn: conn.execute(sql, params).rowcount))

    def delete(self, name: str) -> bool:
        """Delete the entry named ``name``; False if there is none."""
        sql = "DELETE FROM dirmon_entries WHERE name = ?"
        return bool(self._db.write(lambda conn: conn.execute(sql, (name,)).rowcount))


_DIRMON_DEFAULTS: dict[str, Any] = {
    "pattern": "", "job_class": "", "archive_directory": "", "properties": {},
    "enabled": True, "last_error": None, "updated_at": None,
}  # fmt: skip


def _dirmon_row(entry: Mapping[str, Any]) -> tuple[Any, ...]:
    values = {**_DIRMON_DEFAULTS, **entry}
    values["properties"] = codec.dumps(values["properties"] or {})
    values["enabled"] = int(bool(values["enabled"]))
    values["updated_at"] = to_micros(values["updated_at"] or dt.datetime.now(dt.UTC))
    return tuple(values[key] for key in _DIRMON_COLUMNS)


def _dirmon_from_row(row: Sequence[Any]) -> dict[str, Any]:
    entry = dict(zip(_DIRMON_COLUMNS, row, strict=True))
    entry["properties"] = codec.loads(entry["properties"])
    entry["enabled"] = bool(entry["enabled"])
    entry["updated_at"] = from_micros(entry["updated_at"])
    return entry
