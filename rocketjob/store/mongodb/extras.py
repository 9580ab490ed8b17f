"""MongoDB store: singleton keys, throttled claims, batched deletes and dirmon entries
(a mixin of :class:`rocketjob.store.mongodb.MongoStore`).

* ``singleton_key``: MongoDB 5.0 partial indexes cannot filter on ``$in`` of states, so
  the store keeps a second field, ``_active_key``, equal to ``singleton_key`` while the
  job is queued, running or paused and null otherwise (set in the same single-document
  write that changes the state). A unique index on ``_active_key`` whose
  ``partialFilterExpression`` is ``{_active_key: {$type: "string"}}`` makes a second
  active job with the same key fail its insert or update atomically.
* Throttled claims: see :mod:`rocketjob.store.mongodb.throttle`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from rocketjob.errors import ValidationError
from rocketjob.store.base import ACTIVE_STATES, ClaimLimit, JobDoc
from rocketjob.store.mongodb.docs import time_filter, to_sets
from rocketjob.store.mongodb.throttle import Throttle

INACTIVE_STATES = frozenset({"completed", "failed", "aborted"})


def is_duplicate_singleton(exc: Exception) -> bool:
    """True when a duplicate-key error came from the singleton index."""
    details = getattr(exc, "details", None) or {}
    messages = [str(exc), str(details.get("errmsg", ""))]
    messages += [str(err.get("errmsg", "")) for err in details.get("writeErrors", [])]
    return any("_active_key" in text or "index: singleton" in text for text in messages)


class MongoExtras:
    """Behaviour support for the MongoDB store (see the module docstring)."""

    _db: Any
    _jobs: Any
    drop_orphan_slices: Any  # rocketjob.store.mongodb.slices

    def _create_extra_indexes(self) -> None:
        """The singleton index, the finished-jobs index and the dirmon collection."""
        self._jobs.create_index(
            [("_active_key", ASCENDING)],
            name="singleton",
            unique=True,
            partialFilterExpression={"_active_key": {"$type": "string"}},
        )
        self._jobs.create_index([("state", ASCENDING), ("completed_at", ASCENDING)],
                                name="finished")  # fmt: skip
        self._dirmon = self._db["rocketjob_dirmon_entries"]
        self._throttle = Throttle(self._db["rocketjob_throttle_slots"], self._jobs)

    def _with_active_key(
        self, job_id: str, changes: Mapping[str, Any], from_states: Collection[str] | None
    ) -> Mapping[str, Any]:
        """``changes`` plus the job's singleton_key when the write may move it from an
        inactive to an active state (its _active_key must be set again)."""
        if changes.get("state") not in ACTIVE_STATES or "singleton_key" in changes:
            return changes
        if from_states is not None and not INACTIVE_STATES.intersection(from_states):
            return changes
        raw = self._jobs.find_one({"_id": job_id}, {"singleton_key": 1})
        if raw is None or raw.get("singleton_key") is None:
            return changes
        return {**changes, "singleton_key": raw["singleton_key"]}

    def _claim_limited(
        self,
        worker_names: Sequence[str],
        job_classes: Collection[str],
        now: dt.datetime,
        limits: Sequence[ClaimLimit],
    ) -> list[JobDoc]:
        """Claim within ``limits`` (see :mod:`rocketjob.store.mongodb.throttle`)."""
        return self._throttle.claim(worker_names, job_classes, now, limits)

    def delete_jobs(self, states: Collection[str], finished_before: dt.datetime, limit: int) -> int:
        """Delete at most ``limit`` finished jobs in ``states``: read a page of ids, then
        one ``delete_many`` re-checking the condition."""
        if not states or limit <= 0:
            return 0
        where = {"state": {"$in": list(states)}, **time_filter("completed_at", "$lt",
                                                                 finished_before)}  # fmt: skip
        ids = [raw["_id"] for raw in self._jobs.find(where, {"_id": 1}).limit(int(limit))]
        if not ids:
            return 0
        deleted = int(self._jobs.delete_many({**where, "_id": {"$in": ids}}).deleted_count)
        self.drop_orphan_slices(ids)  # batch jobs' slices go with them (rocketjob.batch)
        return deleted

    # -- dirmon entries ------------------------------------------------------------------
    def insert_dirmon_entry(self, entry: Mapping[str, Any]) -> None:
        """Store a new dirmon entry; a duplicate name raises ValidationError."""
        doc = {**_DIRMON_DEFAULTS, **entry}
        doc["updated_at"] = doc["updated_at"] or dt.datetime.now(dt.UTC)
        doc["_id"] = doc.pop("name")
        try:
            self._dirmon.insert_one(doc)
        except DuplicateKeyError:
            raise ValidationError(f"a dirmon entry named {entry['name']!r} exists") from None

    def list_dirmon_entries(self) -> list[dict[str, Any]]:
        """Every dirmon entry, by name."""
        entries = []
        for raw in self._dirmon.find().sort("_id", ASCENDING):
            entry = {"name": raw.pop("_id"), **raw}
            entry["updated_at"] = entry["updated_at"].astimezone(dt.UTC)
            entries.append(entry)
        return entries

    def update_dirmon_entry(self, name: str, changes: Mapping[str, Any]) -> bool:
        """Apply ``changes`` to the entry named ``name``; False if there is none."""
        unknown = set(changes) - set(_DIRMON_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown dirmon field(s) {sorted(unknown)}")
        if not changes:
            return self._dirmon.count_documents({"_id": name}) > 0
        return self._dirmon.update_one({"_id": name}, {"$set": dict(changes)}).matched_count > 0

    def delete_dirmon_entry(self, name: str) -> bool:
        """Delete the entry named ``name``; False if there is none."""
        return self._dirmon.delete_one({"_id": name}).deleted_count > 0


_DIRMON_DEFAULTS: dict[str, Any] = {
    "pattern": "", "job_class": "", "archive_directory": "", "properties": {},
    "enabled": True, "last_error": None, "updated_at": None,
}  # fmt: skip

__all__ = ["MongoExtras", "is_duplicate_singleton", "to_sets"]
