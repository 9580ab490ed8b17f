"""MongoDB store: dirmon entries (see rocketjob.included.dirmon), in their own collection."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from rocketjob.errors import ValidationError
from rocketjob.store.mongodb.connection import Database


class Dirmon:
    """The dirmon entries of one MongoDB store."""

    def __init__(self, db: Database) -> None:
        self._entries = db.dirmon

    def insert(self, entry: Mapping[str, Any]) -> None:
        """Store a new dirmon entry; a duplicate name raises ValidationError."""
        doc = {**_DIRMON_DEFAULTS, **entry}
        doc["updated_at"] = doc["updated_at"] or dt.datetime.now(dt.UTC)
        doc["_id"] = doc.pop("name")
        try:
            self._entries.insert_one(doc)
        except DuplicateKeyError:
            raise ValidationError(f"a dirmon entry named {entry['name']!r} exists") from None

    def entries(self) -> list[dict[str, Any]]:
        """Every dirmon entry, by name."""
        entries = []
        for raw in self._entries.find().sort("_id", ASCENDING):
            entry = {"name": raw.pop("_id"), **raw}
            entry["updated_at"] = entry["updated_at"].astimezone(dt.UTC)
            entries.append(entry)
        return entries

    def update(self, name: str, changes: Mapping[str, Any]) -> bool:
        """Apply ``changes`` to the entry named ``name``; False if there is none."""
        unknown = set(changes) - set(_DIRMON_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown dirmon field(s) {sorted(unknown)}")
        if not changes:
            return int(self._entries.count_documents({"_id": name})) > 0
        return (
            int(self._entries.update_one({"_id": name}, {"$set": dict(changes)}).matched_count) > 0
        )

    def delete(self, name: str) -> bool:
        """Delete the entry named ``name``; False if there is none."""
        return int(self._entries.delete_one({"_id": name}).deleted_count) > 0


_DIRMON_DEFAULTS: dict[str, Any] = {
    "pattern": "", "job_class": "", "archive_directory": "", "properties": {},
    "enabled": True, "last_error": None, "updated_at": None,
}  # fmt: skip
