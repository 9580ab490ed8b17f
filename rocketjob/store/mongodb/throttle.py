"""MongoDB store: throttled claims with slot documents (no multi-document transactions).

Each limit of N running jobs owns N *slot* documents ``{_id: "<limit>#<i>", limit, i,
holder}`` in ``rocketjob_throttle_slots``. A job may run only while it holds a slot:

1. Claim one job as usual (``find_one_and_update`` queued -> running; atomic on the job).
2. Take a slot of each of its limits by compare-and-set: a free slot (``holder: null``)
   or a *stale* one, whose holder token no longer matches a running job. The token is
   ``job id|worker name|started_at`` of that claim, so a job re-queued and claimed again
   never reuses its old token, and of two claimers racing for one stale slot only the
   ``find_one_and_update`` whose filter still sees the old holder wins.
3. If a slot cannot be had, give back the slots taken in step 2 and put the job back to
   queued (only if it is still ours), and skip that limit's classes for this claim.

Why at most N run: a job reaches ``perform`` only after step 2, every slot has at most
one holder at a time (each change is a single-document compare-and-set), and a holder is
replaced only once its job has stopped running (finished, failed, re-queued or deleted),
so at every moment each running job of the limit maps to its own slot. Slots are never
released explicitly: a finished holder is stale, so a crash can never leak a slot.

Before claiming, limits already at N running jobs are left out of the query, so a
worker does not claim and hand back throttled jobs in a loop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

from pymongo import ASCENDING, ReturnDocument

import rocketjob.store.limits as lim
from rocketjob.state import requeue_changes, start_changes
from rocketjob.store.base import ClaimLimit, JobDoc
from rocketjob.store.mongodb.connection import Docs
from rocketjob.store.mongodb.docs import job_from_bson, time_filter, to_sets

_QUEUED = requeue_changes()  # a claim given back: as a requeue writes it


def token_of(doc: JobDoc) -> str:
    """The holder token of a running job: its id, worker and claim time."""
    started = doc["started_at"].isoformat() if doc.get("started_at") else ""
    return f"{doc['id']}|{doc['worker_name']}|{started}"


class Throttle:
    """Claims under limits for one MongoStore (see the module docstring)."""

    def __init__(self, slots: Docs, jobs: Docs) -> None:
        self._slots = slots
        self._jobs = jobs
        self._ready: set[tuple[str, int]] = set()

    def claim(
        self,
        worker_names: Sequence[str],
        job_classes: Collection[str],
        now: dt.datetime,
        limits: Sequence[ClaimLimit],
    ) -> list[JobDoc]:
        """Claim up to one job per worker name, within ``limits``."""
        full = {limit.name for limit in limits if self._running(limit) >= limit.max_running}
        claimed: list[JobDoc] = []
        for worker in worker_names:
            doc = self._claim_one(worker, job_classes, now, limits, full)
            if doc is None:
                break
            claimed.append(doc)
        return claimed

    def _running(self, limit: ClaimLimit) -> int:
        where = {"state": "running", "job_class": {"$in": sorted(limit.job_classes)}}
        return int(self._jobs.count_documents(where))

    def _claim_one(
        self,
        worker: str,
        job_classes: Collection[str],
        now: dt.datetime,
        limits: Sequence[ClaimLimit],
        full: set[str],
    ) -> JobDoc | None:
        for _ in range(len(limits) + 1):
            counts = {limit.name: limit.max_running if limit.name in full else 0
                      for limit in limits}  # fmt: skip
            allowed = lim.allowed_classes(job_classes, limits, counts)
            if not allowed:
                return None
            doc = self._take_job(worker, allowed, now)
            if doc is None:
                return None
            failed = self._take_slots(doc, limits)
            if failed is None:
                return doc
            full.add(failed)
            self._jobs.update_one(
                {"_id": doc["id"], "state": "running", "worker_name": worker},
                {"$set": to_sets(_QUEUED)},
            )
        return None

    def _take_job(self, worker: str, classes: list[str], now: dt.datetime) -> JobDoc | None:
        where = {
            "state": "queued",
            "job_class": {"$in": classes},
            "$or": [{"run_at": None}, *time_filter("run_at", "$lte", now)["$or"]],
        }
        changes = start_changes(now, worker.rsplit(":", 1)[0], worker)
        raw = self._jobs.find_one_and_update(
            where, {"$set": to_sets(changes)},
            sort=[("priority", ASCENDING), ("_id", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )  # fmt: skip
        return job_from_bson(raw) if raw else None

    def _take_slots(self, doc: JobDoc, limits: Sequence[ClaimLimit]) -> str | None:
        """Take one slot per limit of the job's class; the name of the limit that had
        none (after giving back what was taken), or None when all were taken."""
        token = token_of(doc)
        taken: list[str] = []
        for limit in limits:
            if doc["job_class"] not in limit.job_classes:
                continue
            if not self._take_slot(limit, token):
                self._slots.update_many({"holder": token}, {"$set": {"holder": None}})
                return limit.name
            taken.append(limit.name)
        return None

    def _take_slot(self, limit: ClaimLimit, token: str) -> bool:
        self._ensure_slots(limit)
        mine = {"limit": limit.name, "i": {"$lt": limit.max_running}}
        if self._slots.find_one_and_update({**mine, "holder": None}, {"$set": {"holder": token}}):
            return True
        slots = list(self._slots.find(mine))
        holders = [slot["holder"] for slot in slots if slot.get("holder")]
        live = self._live_tokens(holders)
        for slot in slots:
            if slot.get("holder") in live:
                continue
            won = self._slots.find_one_and_update(
                {"_id": slot["_id"], "holder": slot.get("holder")}, {"$set": {"holder": token}}
            )
            if won:
                return True
        return False

    def _live_tokens(self, holders: list[str]) -> set[str]:
        """The holder tokens that still match a running job."""
        ids = [holder.split("|", 1)[0] for holder in holders]
        running = self._jobs.find({"_id": {"$in": ids}, "state": "running"})
        current = {token_of(job_from_bson(raw)) for raw in running}
        return {holder for holder in holders if holder in current}

    def _ensure_slots(self, limit: ClaimLimit) -> None:
        """Create the slot documents of ``limit`` once per store (upserts, idempotent)."""
        key = (limit.name, limit.max_running)
        if key in self._ready:
            return
        for i in range(limit.max_running):
            self._slots.update_one(
                {"_id": f"{limit.name}#{i}"},
                {"$setOnInsert": {"limit": limit.name, "i": i, "holder": None}},
                upsert=True,
            )
        self._ready.add(key)
