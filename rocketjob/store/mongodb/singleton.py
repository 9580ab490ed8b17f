"""MongoDB store: singleton keys.

MongoDB 5.0 partial indexes cannot filter on ``$in`` of states, so the store keeps a
second field, ``_active_key``, equal to ``singleton_key`` while the job is queued, running
or paused and null otherwise (set in the same single-document write that changes the
state). A unique index on ``_active_key`` whose ``partialFilterExpression`` is
``{_active_key: {$type: "string"}}`` makes a second active job with the same key fail its
insert or update atomically.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from pymongo.collection import Collection as MongoCollection

from rocketjob.store.base import ACTIVE_STATES

INACTIVE_STATES = frozenset({"completed", "failed", "aborted"})


def is_duplicate_singleton(exc: Exception) -> bool:
    """True when a duplicate-key error came from the singleton index."""
    details = getattr(exc, "details", None) or {}
    messages = [str(exc), str(details.get("errmsg", ""))]
    messages += [str(err.get("errmsg", "")) for err in details.get("writeErrors", [])]
    return any("_active_key" in text or "index: singleton" in text for text in messages)


def with_active_key(
    jobs: MongoCollection[dict[str, Any]],
    job_id: str,
    changes: Mapping[str, Any],
    from_states: Collection[str] | None,
) -> Mapping[str, Any]:
    """``changes`` plus the job's singleton_key when the write may move it from an
    inactive to an active state (its _active_key must be set again)."""
    if changes.get("state") not in ACTIVE_STATES or "singleton_key" in changes:
        return changes
    if from_states is not None and not INACTIVE_STATES.intersection(from_states):
        return changes
    raw = jobs.find_one({"_id": job_id}, {"singleton_key": 1})
    if raw is None or raw.get("singleton_key") is None:
        return changes
    return {**changes, "singleton_key": raw["singleton_key"]}
