"""The MongoDB store (pymongo): Rocket Job's own store, for many machines.

* URL: ``mongodb://host:27017/dbname`` (default database ``rocketjob``); every query
  option is pymongo's own. Unless the URL sets them: ``serverSelectionTimeoutMS=5000``,
  ``connectTimeoutMS=5000``, ``socketTimeoutMS=30000``; retryable writes stay on. One
  store option: ``wakeups=poll`` forces polling instead of change streams.
* Collections ``rocketjob_jobs`` (``_id`` = job id) and ``rocketjob_servers`` (``_id`` =
  server name), indexes created on connect. Only documented features of MongoDB 5.0+.
* Claiming is one ``find_one_and_update`` per worker name: ``{state: "queued"}`` sorted
  on the index ``{state, priority, _id}``; each is atomic on one document, so no job is
  handed out twice.
* Async applications: ``aperform_later``, ``Job.afind`` ... run on pymongo's
  ``AsyncMongoClient``, one per event loop (:mod:`.aio`).
* Wake-ups: a change stream on the jobs collection (inserts, and updates that set
  ``state`` to queued) where the server supports them (replica sets, sharded
  clusters); on a standalone server, adaptive polling of a queued-jobs fingerprint.
* Servers: commands are ``$push``-ed onto the server document; the heartbeat reads them
  with its ``find_one_and_update`` and removes exactly those it read with a ``$slice``
  pipeline update (see :meth:`MongoStore.heartbeat_server`). Zombies are reaped with
  ``find_one_and_delete``, so exactly one caller reaps each.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import (
    BulkWriteError,
)

from rocketjob.errors import ValidationError
from rocketjob.state import requeue_changes, start_changes
from rocketjob.store.base import (
    AsyncJobs,
    ClaimFor,
    ClaimLimit,
    Finish,
    JobDoc,
    JobQuery,
    ServerDoc,
)
from rocketjob.store.batch_slices import BatchSlices
from rocketjob.store.dirmon_entries import DirmonEntries
from rocketjob.store.mongodb.aio import AsyncMongoJobs
from rocketjob.store.mongodb.connection import Database, translated
from rocketjob.store.mongodb.dirmon import Dirmon
from rocketjob.store.mongodb.docs import (
    job_from_bson,
    server_from_bson,
    time_filter,
    to_bson,
    to_sets,
)
from rocketjob.store.mongodb.singleton import with_active_key
from rocketjob.store.mongodb.slices import Slices
from rocketjob.store.mongodb.throttle import Throttle
from rocketjob.store.mongodb.wakeup import Wakeups
from rocketjob.store.mongodb.web import MongoMissionControl, job_filter

_MAX_COMMANDS = 1_000_000  # $slice needs a count: more than any list of pending commands
_REQUEUE = requeue_changes()  # the bulk requeue's write, from the transition table


class MongoStore(MongoMissionControl, BatchSlices, DirmonEntries):
    """The MongoDB implementation of :class:`rocketjob.store.base.Store` (and of the
    optional :class:`rocketjob.store.base.MissionControlStore`, inherited from
    :class:`MongoMissionControl`, which owns nothing but the typed collections; batch
    slices forwarded to its :class:`~rocketjob.store.mongodb.slices.Slices`)."""

    _slices: Slices

    #: Outcome batches a worker process may have in flight at once (GroupCommitter): one,
    #: as on the other stores (bigger batches, fewer round trips per job).
    concurrent_writers = 1
    #: The async side: pymongo's AsyncMongoClient, one per event loop (mongodb/aio.py).
    async_jobs: AsyncJobs | None = None

    def __init__(self, url: str) -> None:
        self.url = url
        db = Database(url)
        MongoMissionControl.__init__(self, db)
        self._client, self._transactions = db.client, db.transactions
        self._servers = db.servers
        self._wakeups = Wakeups(db.jobs, use_change_stream=db.change_streams)
        self._throttle = Throttle(db.throttle_slots, db.jobs)
        self._dirmon = Dirmon(db)
        self._slices = Slices(db, self._wakeups, lambda doc: self.insert_jobs([doc]))
        self._async = AsyncMongoJobs(db, self._wakeups.poke)
        self.async_jobs = self._async

    # -- jobs ------------------------------------------------------------------------
    @translated
    def insert_jobs(self, docs: Sequence[JobDoc], *, connection: Any = None) -> None:
        """All or none: one transaction where the server has them (replica sets);
        otherwise one ordered ``insert_many`` whose partial result is deleted again."""
        if connection is not None:
            raise ValidationError(
                "connection= (transactional enqueue) needs the PostgreSQL store; "
                "the MongoDB store commits every enqueue itself"
            )
        if not docs:
            return
        stored = [to_bson(doc, "id") for doc in docs]
        if len(stored) > 1 and self._transactions:
            with self._client.start_session() as session:
                session.with_transaction(
                    lambda s: self._jobs.insert_many(stored, session=s), max_commit_time_ms=10000
                )
            self._wakeups.poke()
            return
        try:
            self._jobs.insert_many(stored, ordered=True)
            self._wakeups.poke()
        except BulkWriteError as exc:
            inserted = int(exc.details.get("nInserted", 0))
            if inserted:
                self._jobs.delete_many({"_id": {"$in": [d["_id"] for d in stored[:inserted]]}})
            raise

    @translated
    def get_job(self, job_id: str) -> JobDoc | None:
        raw = self._jobs.find_one({"_id": job_id})
        return job_from_bson(raw) if raw else None

    @translated
    def update_job(
        self,
        job_id: str,
        changes: Mapping[str, Any],
        *,
        from_states: Collection[str] | None = None,
        worker_name: str | None = None,
    ) -> JobDoc | None:
        where: dict[str, Any] = {"_id": job_id}
        if from_states is not None:
            where["state"] = {"$in": list(from_states)}
        if worker_name is not None:
            where["worker_name"] = worker_name
        if not changes:
            raw = self._jobs.find_one(where)
        else:
            changes = with_active_key(self._jobs, job_id, changes, from_states)
            raw = self._jobs.find_one_and_update(
                where, {"$set": to_sets(changes)}, return_document=ReturnDocument.AFTER
            )
            if raw is not None and changes.get("state") == "queued":
                self._wakeups.poke()
        return job_from_bson(raw) if raw else None

    @translated
    def delete_job(self, job_id: str, *, from_states: Collection[str] | None = None) -> bool:
        where: dict[str, Any] = {"_id": job_id}
        if from_states is not None:
            where["state"] = {"$in": list(from_states)}
        deleted = bool(self._jobs.delete_one(where).deleted_count)
        if deleted:
            self._slices.delete_slices(job_id)  # a batch job's slices go with it
        return deleted

    @translated
    def find_jobs(self, query: JobQuery) -> list[JobDoc]:
        cursor = self._jobs.find(job_filter(query)).sort(
            "_id", DESCENDING if query.descending else ASCENDING
        )
        if query.limit is not None:
            if query.limit <= 0:
                return []
            cursor = cursor.limit(int(query.limit))
        return [job_from_bson(raw) for raw in cursor]

    @translated
    def count_jobs(self, job_class: str | None = None) -> dict[str, int]:
        match = {} if job_class is None else {"job_class": job_class}
        rows = self._jobs.aggregate(
            [{"$match": match}, {"$group": {"_id": "$state", "n": {"$sum": 1}}}]
        )
        return {row["_id"]: int(row["n"]) for row in rows}

    @translated
    def queued_job_classes(self) -> list[str]:
        return sorted(self._jobs.distinct("job_class", {"state": "queued"}))

    @translated
    def claim_jobs(
        self,
        worker_names: Sequence[str],
        job_classes: Collection[str],
        now: dt.datetime,
        limits: Sequence[ClaimLimit] = (),
    ) -> list[JobDoc]:
        if not worker_names or not job_classes:
            return []
        if limits:
            return self._throttle.claim(worker_names, job_classes, now, limits)
        where = {
            "state": "queued",
            "job_class": {"$in": list(job_classes)},
            "$or": [{"run_at": None}, *time_filter("run_at", "$lte", now)["$or"]],
        }
        server = worker_names[0].rsplit(":", 1)[0]
        claimed = []
        for worker in worker_names:
            changes = start_changes(now, server, worker)
            raw = self._jobs.find_one_and_update(
                where,
                {"$set": to_sets(changes)},
                sort=[("priority", ASCENDING), ("_id", ASCENDING)],
                return_document=ReturnDocument.AFTER,
            )
            if raw is None:
                break
            claimed.append(job_from_bson(raw))
        return claimed

    @translated
    def finish_jobs(self, finished: Sequence[Finish]) -> list[str]:
        """One conditional write per job (each atomic on its document)."""
        done = []
        for item in finished:
            where = {"_id": item.job_id, "state": "running", "worker_name": item.worker_name}
            if item.destroy:
                written = self._jobs.delete_one(where).deleted_count
            else:
                written = self._jobs.update_one(
                    where, {"$set": to_sets(item.changes)}
                ).matched_count
            if written:
                done.append(item.job_id)
        if any(item.changes.get("state") == "queued" for item in finished):
            self._wakeups.poke()
        return done

    def claim_kinds(
        self, kinds: Sequence[ClaimFor], now: dt.datetime, limits: Sequence[ClaimLimit] = ()
    ) -> list[list[JobDoc]]:
        """Each kind's claim in turn: a MongoDB claim is one ``find_one_and_update`` per
        worker name whatever the kind, so sharing a call saves no round trip."""
        return [self.claim_jobs(k.worker_names, k.job_classes, now, limits) for k in kinds]

    def finish_and_claim(
        self,
        finished: Sequence[Finish],
        worker_names: Sequence[str],
        job_classes: Collection[str],
        now: dt.datetime,
        limits: Sequence[ClaimLimit] = (),
    ) -> tuple[list[str], list[JobDoc]]:
        """``finish_jobs`` then ``claim_jobs``. MongoDB writes each document atomically
        (no multi-document transaction on a standalone server): every outcome is its own
        compare-and-set on the job still running on its worker, every claim its own
        ``find_one_and_update`` (throttled claims as in ``claim_jobs``), so the
        guarantees are those of the two calls; the threads whose outcomes are written get
        their next jobs without a poll of their own."""
        done = self.finish_jobs(finished)
        return done, self.claim_jobs(worker_names, job_classes, now, limits)

    @translated
    def requeue_jobs(self, server_name: str) -> int:
        result = self._jobs.update_many(
            {"state": "running", "server_name": server_name}, {"$set": to_sets(_REQUEUE)}
        )
        if result.modified_count:
            self._wakeups.poke()
        return int(result.modified_count)

    def wait_for_jobs(self, timeout: float) -> None:
        """Change stream or adaptive polling (see :mod:`rocketjob.store.mongodb.wakeup`);
        never raises."""
        self._wakeups.wait(timeout)

    # -- servers -----------------------------------------------------------------------
    @translated
    def register_server(self, doc: ServerDoc) -> None:
        full = {**doc, "info": doc.get("info") or {}, "commands": doc.get("commands") or []}
        self._servers.replace_one({"_id": doc["name"]}, to_bson(full, "name"), upsert=True)

    @translated
    def heartbeat_server(self, name: str, changes: Mapping[str, Any]) -> ServerDoc | None:
        """Write ``changes`` and read the pending commands in one ``find_one_and_update``
        (the document after the write); when there are some, a second single-document
        update removes exactly that many from the front of the list, so a command pushed
        meanwhile stays for the next heartbeat. Never ``$set: {commands: []}`` with a
        before-image: a server that reads the image and writes separately (SecantusDB
        does) would drop a command pushed in between. Only the server itself takes its
        commands, so the first ``n`` are the ones read."""
        sets = to_sets({key: value for key, value in changes.items() if key != "commands"})
        raw = self._servers.find_one_and_update(
            {"_id": name}, {"$set": sets}, return_document=ReturnDocument.AFTER
        )
        if raw is None:
            return None
        doc = server_from_bson(raw)
        if doc["commands"]:
            rest = {"$slice": ["$commands", len(doc["commands"]), _MAX_COMMANDS]}
            self._servers.update_one({"_id": name}, [{"$set": {"commands": rest}}])
        return doc

    @translated
    def send_command(self, name: str, command: str) -> bool:
        result = self._servers.update_one({"_id": name}, {"$push": {"commands": command}})
        return int(result.matched_count) > 0

    @translated
    def list_servers(self) -> list[ServerDoc]:
        return [server_from_bson(raw) for raw in self._servers.find().sort("_id", ASCENDING)]

    @translated
    def remove_server(self, name: str) -> None:
        self._servers.delete_one({"_id": name})

    @translated
    def reap_zombie_servers(self, cutoff: dt.datetime, heir: str) -> list[str]:
        """``find_one_and_delete`` per zombie: of racing callers, exactly one gets each
        document and hands its running jobs to ``heir``. Two writes (no multi-document
        transaction here): a caller killed between them leaves the jobs running under the
        removed server's name."""
        reaped = []
        where = time_filter("heartbeat_at", "$lt", cutoff)
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            raw = self._servers.find_one_and_delete(where, projection={"_id": 1})
            if raw is None:
                break
            reaped.append(raw["_id"])
            self._jobs.update_many(
                {"state": "running", "server_name": raw["_id"]}, {"$set": {"server_name": heir}}
            )
        return sorted(reaped)

    # -- life cycle ------------------------------------------------------------------------
    @translated
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
        self._slices.drop_orphan_slices(ids)  # batch jobs' slices go with them (rocketjob.batch)
        return deleted

    def close(self) -> None:
        self._wakeups.close()
        self._client.close()
        self._async.forget()
