"""MongoDB store: the slices of batch jobs (:class:`Slices`, a collaborator of
:class:`MongoStore` given its typed collections; the contract is
:mod:`rocketjob.store.slices`).

* Collection ``rocketjob_slices``, one document per slice, unique on ``(job_id,
  number)``; indexes for claims (``job_id, state, number``) and a dead server's slices.
* Upload without multi-document transactions: the slices first, with ``insert_many`` in
  pages of :data:`INSERT_PAGE`, then the job. A failure deletes the slices written, so
  no job and no slice is left. A process killed mid-upload leaves slices without a job:
  no claim sees them (claims start from a running job), and ``delete_slices`` removes
  them.
* Claims: one ``find_one_and_update`` per slice (atomic on the document). A job with a
  limit is claimed optimistically: claim, count the job's running slices, and give the
  slice back if the count is over the limit. Every keeper counted after its own claim,
  so a keeper always sees every slice kept before it: never more than the limit run.
* Deleting a job deletes its slices in ``delete_job`` and ``delete_jobs``; a batch job
  destroyed on completion deletes its slices itself (rocketjob.batch).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pymongo import ASCENDING, ReturnDocument

from rocketjob.store.base import JobDoc
from rocketjob.store.mongodb.connection import Database, Docs, translated
from rocketjob.store.mongodb.wakeup import Wakeups
from rocketjob.store.slices import NewSlice, SliceDoc, server_of

#: Slices per ``insert_many`` of an upload (bounded memory, few round trips).
INSERT_PAGE = 1000
_FIELDS = ("job_id", "number", "state", "first_record", "record_count", "records", "output",
           "failure", "worker_name", "server_name", "started_at", "completed_at",
           "crash_count")  # fmt: skip
_PAGE = {name: 1 for name in ("job_id", "number", "state", "first_record", "record_count",
                              "output", "failure", "crash_count")}  # fmt: skip
#: A slice with no crashes (slices stored before they counted crashes have no field).
_UNBLAMED = {"crash_count": {"$in": [0, None]}}
_QUEUED = {"state": "queued", "worker_name": None, "server_name": None, "started_at": None}


def slice_from_bson(raw: Mapping[str, Any]) -> SliceDoc:
    """A slice document from its stored form."""
    doc = {name: raw[name] for name in _FIELDS if name in raw}
    doc.setdefault("crash_count", 0)
    return doc


class Slices:
    """Batch job slices on MongoDB (see the module docstring): the store's database
    ``db``, its wake-ups, and ``insert_job``, the store's insert of one job document (an
    upload stores its job last, as any enqueue)."""

    def __init__(
        self, db: Database, wakeups: Wakeups, insert_job: Callable[[JobDoc], None]
    ) -> None:
        self._db = db
        self._jobs: Docs = db.jobs
        self._wakeups = wakeups
        self._insert_job = insert_job
        self._slice_indexes = False

    @property
    def _slices(self) -> Docs:
        """The slices collection, its indexes created on first use."""
        collection = self._db.db["rocketjob_slices"]
        if not self._slice_indexes:
            keys = [("job_id", ASCENDING), ("number", ASCENDING)]
            collection.create_index(keys, name="slice", unique=True)
            claim = [("job_id", ASCENDING), ("state", ASCENDING), ("number", ASCENDING)]
            collection.create_index(claim, name="claim")
            collection.create_index([("server_name", ASCENDING)], name="server")
            self._slice_indexes = True
        return collection

    @translated
    def insert_batch_job(self, doc: JobDoc, slices: Iterable[NewSlice]) -> int:
        count = self.insert_slices(doc["id"], slices)  # all or none
        try:
            self._insert_job(doc)
        except BaseException:
            self._slices.delete_many({"job_id": doc["id"]})
            raise
        return count

    @translated
    def insert_slices(self, job_id: str, slices: Iterable[NewSlice]) -> int:
        collection, count = self._slices, 0
        try:
            stream = iter(slices)
            while page := list(itertools.islice(stream, INSERT_PAGE)):
                collection.insert_many([_new_slice(job_id, piece) for piece in page], ordered=False)
                count += len(page)
        except BaseException:
            collection.delete_many({"job_id": job_id})
            raise
        return count

    @translated
    def claim_slices(
        self,
        worker_names: Sequence[str],
        job_classes: Sequence[str],
        now: dt.datetime,
        limits: Mapping[str, int],
    ) -> list[SliceDoc]:
        if not worker_names or not job_classes:
            return []
        collection = self._slices
        opened = self._jobs.find(
            {"state": "running", "worker_name": None, "job_class": {"$in": list(job_classes)}},
            {"_id": 1, "job_class": 1},
        ).sort([("priority", ASCENDING), ("_id", ASCENDING)])
        names, claimed = list(worker_names), []
        for job in opened:
            limit = limits.get(job["job_class"], 0)
            while names:
                doc = self._claim_one(collection, job["_id"], names[0], now, limit)
                if doc is None:
                    break
                claimed.append(doc)
                names.pop(0)
            if not names:
                break
        return claimed

    def _claim_one(
        self, collection: Any, job_id: str, worker: str, now: dt.datetime, limit: int
    ) -> SliceDoc | None:
        """Claim the job's first queued slice for ``worker``; None when there is none or
        the job's limit is reached."""
        sets = {"state": "running", "worker_name": worker, "server_name": server_of(worker),
                "started_at": now}  # fmt: skip
        # Unblamed slices, and suspects (slices with crashes) only while none of the job's
        # runs (rocketjob.batch.crashes): running slices are few, so the check is cheap.
        wanted: dict[str, Any] = {"job_id": job_id, "state": "queued"}
        suspect = {"job_id": job_id, "state": "running", "crash_count": {"$gt": 0}}
        if collection.find_one(suspect, {"_id": 1}) is not None:
            wanted.update(_UNBLAMED)
        raw = collection.find_one_and_update(
            wanted,
            {"$set": sets},
            sort=[("number", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        if raw is None:
            return None
        if limit > 0:
            running = collection.count_documents({"job_id": job_id, "state": "running"})
            if running > limit:  # over the limit: give it back (see the module docstring)
                collection.update_one(
                    {"_id": raw["_id"], "state": "running", "worker_name": worker},
                    {"$set": _QUEUED},
                )
                return None
        return slice_from_bson(raw)

    @translated
    def finish_slice(
        self, job_id: str, number: int, worker_name: str, changes: Mapping[str, Any]
    ) -> bool:
        result = self._slices.update_one(
            {"job_id": job_id, "number": number, "state": "running", "worker_name": worker_name},
            {"$set": {**changes, "worker_name": None, "server_name": None}},
        )
        return bool(result.matched_count)

    @translated
    def finish_and_claim_slice(
        self,
        job_id: str,
        number: int,
        worker_name: str,
        changes: Mapping[str, Any],
        now: dt.datetime,
        limit: int,
    ) -> tuple[bool, SliceDoc | None]:
        """Two writes (no transaction): the finish, then a claim of the next slice."""
        if not self.finish_slice(job_id, number, worker_name, changes):
            return False, None
        if self._jobs.find_one({"_id": job_id, "state": "running", "worker_name": None},
                               {"_id": 1}) is None:  # fmt: skip
            return True, None
        return True, self._claim_one(self._slices, job_id, worker_name, now, limit)

    @translated
    def count_slices(self, job_id: str) -> dict[str, int]:
        rows = self._slices.aggregate(
            [{"$match": {"job_id": job_id}}, {"$group": {"_id": "$state", "n": {"$sum": 1}}}]
        )
        return {row["_id"]: int(row["n"]) for row in rows if row["n"]}

    @translated
    def failed_slices(self, job_id: str) -> list[SliceDoc]:
        cursor = self._slices.find({"job_id": job_id, "state": "failed"}).sort("number", 1)
        return [slice_from_bson(raw) for raw in cursor]

    @translated
    def read_slices(self, job_id: str, after: int, limit: int) -> list[SliceDoc]:
        cursor = (
            self._slices.find({"job_id": job_id, "number": {"$gt": after}}, _PAGE)
            .sort("number", 1)
            .limit(int(limit))
        )
        return [slice_from_bson(raw) for raw in cursor]

    @translated
    def retry_slices(self, job_id: str) -> int:
        result = self._slices.update_many(
            {"job_id": job_id, "state": "failed"},
            {"$set": {"state": "queued", "completed_at": None, "crash_count": 0}},
        )
        return int(result.modified_count)

    @translated
    def requeue_slices(self, server_name: str) -> int:
        # the bare collection: a requeue at a worker's exit creates no index
        result = self._db.db["rocketjob_slices"].update_many(
            {"state": "running", "server_name": server_name}, {"$set": _QUEUED}
        )
        if result.modified_count:
            self._wakeups.poke()
        return int(result.modified_count)

    @translated
    def requeue_orphan_slices(self) -> int:
        live = [raw["_id"] for raw in self._db.servers.find({}, {"_id": 1})]
        result = self._db.db["rocketjob_slices"].update_many(
            {"state": "running", "server_name": {"$nin": live}}, {"$set": _QUEUED}
        )
        if result.modified_count:
            self._wakeups.poke()
        return int(result.modified_count)

    @translated
    def delete_slices(self, job_id: str) -> int:
        return int(self._slices.delete_many({"job_id": job_id}).deleted_count)

    @translated
    def drop_orphan_slices(self, job_ids: Sequence[str]) -> None:
        """Delete the slices of those of ``job_ids`` that no longer exist."""
        alive = {raw["_id"] for raw in self._jobs.find({"_id": {"$in": list(job_ids)}}, {"_id": 1})}
        gone = [job_id for job_id in job_ids if job_id not in alive]
        if gone:
            self._slices.delete_many({"job_id": {"$in": gone}})

    @translated
    def take_batch_job(self, job_id: str, worker_name: str) -> bool:
        result = self._jobs.update_one(
            {"_id": job_id, "state": "running", "worker_name": None},
            {"$set": {"worker_name": worker_name, "server_name": server_of(worker_name)}},
        )
        return bool(result.modified_count)


def _new_slice(job_id: str, piece: NewSlice) -> dict[str, Any]:
    return {
        "job_id": job_id, "number": piece.number, "state": "queued",
        "first_record": piece.first_record, "record_count": piece.record_count,
        "records": piece.records, "output": None, "failure": None, "worker_name": None,
        "server_name": None, "started_at": None, "completed_at": None, "crash_count": 0,
    }  # fmt: skip
