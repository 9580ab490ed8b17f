"""MongoDB store: the optional Mission Control methods
(:class:`rocketjob.store.base.MissionControlStore`), a mixin of
:class:`rocketjob.store.mongodb.MongoStore`.

* Audit entries live in ``rocketjob_audit`` with ``_id`` = a :func:`rocketjob.ids.new_id`,
  so ids sort by time across processes; ``prepare_mission_control`` creates the index
  ``finished_state {completed_at, state}`` that serves the throughput and run-time figures.
* Server-side web sessions live in ``rocketjob_web_sessions`` (``_id`` = the session id)
  and failed-login counters in ``rocketjob_web_login_failures`` (``_id`` = the key; a
  stale counter is reset, then ``$inc`` upserts: each step atomic).
* ``finished_per_minute`` groups with ``$dateTrunc`` (MongoDB 5.0+) on the server.
* ``scan_jobs`` walks at most ``scan_limit`` jobs of the indexed filter in ``_id`` order
  and checks the predicates no index serves (free text over the JSON form of the payload
  fields, scheduled or not) in Python, stopping as soon as a page is full; the cost of a
  page is bounded at any collection size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

import orjson
from pymongo import ASCENDING, DESCENDING, ReturnDocument

from rocketjob.ids import new_id
from rocketjob.store.base import JobDoc, JobQuery
from rocketjob.store.mongodb.connection import Database, Docs
from rocketjob.store.mongodb.connection import translated as _translated
from rocketjob.store.mongodb.docs import job_from_bson, split_time

P = ParamSpec("P")
R = TypeVar("R")
_SESSION_KEYS = ("id", "user", "fingerprint", "created_at", "last_seen")
_AUDIT_KEYS = ("at", "user", "action", "target", "outcome", "detail")
_TEXT_FIELDS = ("id", "job_class", "description", "arguments", "exception", "worker_name",
                "fields")  # fmt: skip
_TIMING_FIELDS = {"_id": 0, "completed_at": 1, "started_at": 1, "created_at": 1, "run_at": 1,
                  "_us": 1}  # fmt: skip


def _at_or_after(field: str, value: dt.datetime) -> dict[str, Any]:
    """An exact ``field >= value`` filter over the split (milliseconds + ``_us``) form."""
    millis, micros = split_time(value)
    return {"$or": [{field: {"$gt": millis}}, {field: millis, f"_us.{field}": {"$gte": micros}}]}


def _haystack(doc: JobDoc) -> str:
    """The lower-cased text the free-text search of scan_jobs looks in."""
    parts = []
    for name in _TEXT_FIELDS:
        value = doc.get(name)
        if value is None:
            continue
        parts.append(value if isinstance(value, str) else orjson.dumps(value).decode())
    return " ".join(parts).lower()


def _matches(doc: JobDoc, text: str | None, scheduled: bool | None, now: dt.datetime) -> bool:
    """The unindexed predicates of :meth:`MongoMissionControl.scan_jobs`."""
    if scheduled is not None:
        run_at = doc.get("run_at")
        if (run_at is not None and run_at > now) != scheduled:
            return False
    return not text or text.lower() in _haystack(doc)


class MongoMissionControl:
    """Mission Control's listings, counts, figures and audit log (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._jobs, self._audit = db.jobs, db.audit
        self._mission_control_ready = False

    @_translated
    def prepare_mission_control(self) -> None:
        """Create the finished-jobs index (the audit collection needs only ``_id``);
        idempotent. The first call on a large existing collection builds the index."""
        if self._mission_control_ready:
            return
        self._jobs.create_index(
            [("completed_at", ASCENDING), ("state", ASCENDING)],
            name="finished_state",
        )
        self._mission_control_ready = True

    @_translated
    def add_audit(self, entry: Mapping[str, Any]) -> str:
        """Append one audit entry ``{at, user, action, target, outcome, detail}``; its id."""
        audit_id = new_id()
        doc = {key: entry.get(key) for key in _AUDIT_KEYS}
        doc.update(_id=audit_id, outcome=entry.get("outcome", "ok"), detail=entry.get("detail", ""))
        self._audit.insert_one(doc)
        return audit_id

    @_translated
    def list_audit(self, limit: int = 100, after: str | None = None) -> list[dict[str, Any]]:
        """Audit entries newest first (keyset: ``after`` is the last id of the previous
        page); each has ``id`` and the keys given to :meth:`add_audit`."""
        where = {} if after is None else {"_id": {"$lt": after}}
        cursor = self._audit.find(where).sort("_id", DESCENDING).limit(int(limit))
        entries = []
        for raw in cursor:
            entry = {"id": raw["_id"], **{key: raw.get(key) for key in _AUDIT_KEYS}}
            entry["at"] = entry["at"].astimezone(dt.UTC)
            entries.append(entry)
        return entries

    # -- web sessions and failed logins -------------------------------------------------
    @property
    def _sessions(self) -> Docs:
        return self._db.db["rocketjob_web_sessions"]

    @property
    def _failures(self) -> Docs:
        return self._db.db["rocketjob_web_login_failures"]

    @_translated
    def add_web_session(self, session: Mapping[str, Any]) -> None:
        """Store ``{id, user, fingerprint, created_at, last_seen}``."""
        doc = {key: session[key] for key in _SESSION_KEYS if key != "id"}
        self._sessions.insert_one({"_id": session["id"], **doc})

    @_translated
    def get_web_session(self, session_id: str) -> dict[str, Any] | None:
        """The session, or None."""
        raw = self._sessions.find_one({"_id": session_id})
        if raw is None:
            return None
        found = {"id": raw["_id"], **{k: raw[k] for k in _SESSION_KEYS if k != "id"}}
        for key in ("created_at", "last_seen"):
            found[key] = found[key].astimezone(dt.UTC)
        return found

    @_translated
    def touch_web_session(self, session_id: str, last_seen: dt.datetime) -> None:
        """Set the session's ``last_seen``."""
        self._sessions.update_one({"_id": session_id}, {"$set": {"last_seen": last_seen}})

    @_translated
    def delete_web_session(self, session_id: str) -> bool:
        """Revoke one session; False when there was none."""
        return bool(self._sessions.delete_one({"_id": session_id}).deleted_count)

    @_translated
    def delete_web_sessions(self, user: str | None = None) -> int:
        """Revoke every session (of ``user`` when given); how many."""
        where = {} if user is None else {"user": user}
        return int(self._sessions.delete_many(where).deleted_count)

    @_translated
    def expire_web_sessions(
        self, last_seen_before: dt.datetime, created_before: dt.datetime
    ) -> int:
        """Delete idle or too old sessions; how many."""
        where = {"$or": [{"last_seen": {"$lt": last_seen_before}},
                         {"created_at": {"$lt": created_before}}]}  # fmt: skip
        return int(self._sessions.delete_many(where).deleted_count)

    @_translated
    def add_login_failure(self, key: str, at: dt.datetime, forget_before: dt.datetime) -> int:
        """Count one failed login for ``key``; the new count."""
        self._failures.update_one(
            {"_id": key, "last_at": {"$lt": forget_before}}, {"$set": {"failures": 0}}
        )
        doc = self._failures.find_one_and_update(
            {"_id": key}, {"$inc": {"failures": 1}, "$set": {"last_at": at}},
            upsert=True, return_document=ReturnDocument.AFTER,
        )  # fmt: skip
        assert doc is not None  # an upsert returning the document after always finds one
        return int(doc["failures"])

    @_translated
    def get_login_failures(self, keys: Sequence[str]) -> dict[str, tuple[int, dt.datetime]]:
        """``{key: (failures, last_failure_at)}`` for the keys that have failures."""
        rows = self._failures.find({"_id": {"$in": list(keys)}})
        return {row["_id"]: (int(row["failures"]), row["last_at"].astimezone(dt.UTC))
                for row in rows}  # fmt: skip

    @_translated
    def clear_login_failures(self, key: str) -> None:
        """Forget ``key``'s failures."""
        self._failures.delete_one({"_id": key})

    @_translated
    def count_jobs_by_class(self) -> dict[str, dict[str, int]]:
        """``{job_class: {state: n}}`` over every job (callers cache it)."""
        rows = self._jobs.aggregate(
            [{"$group": {"_id": {"c": "$job_class", "s": "$state"}, "n": {"$sum": 1}}}]
        )
        counts: dict[str, dict[str, int]] = {}
        for row in rows:
            counts.setdefault(row["_id"]["c"], {})[row["_id"]["s"]] = int(row["n"])
        return counts

    @_translated
    def count_scheduled(self, now: dt.datetime) -> dict[str, int]:
        """Queued jobs whose run_at is after ``now``, per class (callers cache it)."""
        millis, micros = split_time(now)
        later = {"$or": [{"run_at": {"$gt": millis}},
                         {"run_at": millis, "_us.run_at": {"$gt": micros}}]}  # fmt: skip
        rows = self._jobs.aggregate([
            {"$match": {"state": "queued", **later}},
            {"$group": {"_id": "$job_class", "n": {"$sum": 1}}},
        ])  # fmt: skip
        return {row["_id"]: int(row["n"]) for row in rows}

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
        moment = now or dt.datetime.now(dt.UTC)
        limit = int(query.limit or 1000)
        window = max(int(scan_limit), 1)
        cursor = (
            self._jobs.find(job_filter(query))
            .sort("_id", DESCENDING if query.descending else ASCENDING)
            .limit(window)
            .batch_size(min(window, 1000))
        )
        found: list[JobDoc] = []
        scanned, last_id = 0, None
        with cursor:
            for raw in cursor:
                scanned, last_id = scanned + 1, raw["_id"]
                doc = job_from_bson(raw)
                if _matches(doc, text, scheduled, moment):
                    found.append(doc)
                    if len(found) > limit:
                        return found[:limit], found[limit - 1]["id"]
        return found, (last_id if scanned >= window else None)

    @_translated
    def finished_per_minute(self, since: dt.datetime) -> list[tuple[dt.datetime, str, int]]:
        """``(minute_start, state, count)`` of stored jobs finished at or after ``since``,
        oldest minute first (``$dateTrunc`` on the server, the finished_state index)."""
        self.prepare_mission_control()
        minute = {"$dateTrunc": {"date": "$completed_at", "unit": "minute"}}
        rows = self._jobs.aggregate([
            {"$match": _at_or_after("completed_at", since)},
            {"$group": {"_id": {"m": minute, "s": "$state"}, "n": {"$sum": 1}}},
            {"$sort": {"_id.m": 1, "_id.s": 1}},
        ])  # fmt: skip
        return [(row["_id"]["m"].astimezone(dt.UTC), row["_id"]["s"], int(row["n"]))
                for row in rows]  # fmt: skip

    @_translated
    def recent_timings(self, since: dt.datetime, limit: int = 5000) -> list[tuple[float, float]]:
        """``(run_seconds, wait_seconds)`` of the at most ``limit`` most recently finished
        stored jobs since ``since`` that had started: run = completed_at - started_at,
        wait = started_at - max(created_at, run_at)."""
        self.prepare_mission_control()
        where = {**_at_or_after("completed_at", since), "started_at": {"$type": "date"}}
        cursor = (
            self._jobs.find(where, _TIMING_FIELDS)
            .sort("completed_at", DESCENDING)
            .limit(int(limit))
        )
        timings = []
        for raw in cursor:
            doc = job_from_bson({"_id": None, **raw})
            started, created = doc["started_at"], doc["created_at"]
            ready = max(created, doc["run_at"] or created)
            run = (doc["completed_at"] - started).total_seconds()
            timings.append((run, max((started - ready).total_seconds(), 0.0)))
        return timings


def job_filter(query: JobQuery) -> dict[str, Any]:
    """The indexed filters and keyset of a job listing (``find_jobs`` and scans)."""
    where: dict[str, Any] = {}
    if query.states is not None:
        where["state"] = {"$in": list(query.states)}
    if query.job_class is not None:
        where["job_class"] = query.job_class
    ids: dict[str, Any] = {}
    if query.ids is not None:
        ids["$in"] = list(query.ids)
    if query.after is not None:
        ids["$lt" if query.descending else "$gt"] = query.after
    if ids:
        where["_id"] = ids
    if query.server_name is not None:
        where["server_name"] = query.server_name
    return where
