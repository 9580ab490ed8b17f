"""A worker's claims of batch job slices: which classes, which limits, and the release
of a dead server's slices. Used by :class:`rocketjob.worker.Worker` for the threads a
claim of jobs left idle (claim by demand: never more slices than idle threads)."""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Sequence

from rocketjob.batch.job import BatchJob
from rocketjob.errors import StoreError
from rocketjob.job import REGISTRY
from rocketjob.log import logger
from rocketjob.store.base import Store
from rocketjob.store.slices import SliceDoc, SliceStore


class BatchClaims:
    """The batch job classes among a worker's ``job_classes`` and their limits."""

    def __init__(self, job_classes: Sequence[str]) -> None:
        # BatchJob itself is registered too (it subclasses Job); no job is ever of that
        # class, and without batch classes a worker makes no slice query at all.
        self.classes = [
            path
            for path in job_classes
            if isinstance(REGISTRY.get(path), type)
            and issubclass(REGISTRY[path], BatchJob)
            and REGISTRY[path] is not BatchJob
        ]
        self.limits: dict[str, int] = {}
        for path in self.classes:
            limit = getattr(REGISTRY[path], "throttle_running_workers", 0)
            if limit:
                self.limits[path] = int(limit)

    def __bool__(self) -> bool:
        return bool(self.classes)

    def claim(self, store: Store, worker_names: Sequence[str], now: dt.datetime) -> list[SliceDoc]:
        """Claim up to ``len(worker_names)`` slices; each document gets an ``id`` naming
        the job and slice (what the thread pool shows as running)."""
        if not isinstance(store, SliceStore):
            return []
        try:
            docs = store.claim_slices(worker_names, self.classes, now, self.limits)
        except StoreError as exc:
            logger.warning("store unavailable; backing off", error=str(exc))
            time.sleep(min(5.0, 0.5 + random.random()))
            return []
        for doc in docs:
            doc["id"] = f"{doc['job_id']}/{doc['number']}"
        return docs

    def release(self, store: Store, server_name: str) -> None:
        """Re-queue the running slices of ``server_name`` (a reaped zombie)."""
        if not isinstance(store, SliceStore):
            return
        try:
            count = store.requeue_slices(server_name)
        except StoreError as exc:
            logger.warning("zombie slices not re-queued", server=server_name, error=str(exc))
            return
        if count:
            logger.warning("zombie server's slices re-queued", server=server_name, slices=count)

    def release_orphans(self, store: Store) -> None:
        """Re-queue running slices whose server is gone unnoticed (its reaper died between
        reaping it and re-queueing its slices). Run with every zombie check."""
        if not self.classes or not isinstance(store, SliceStore):
            return
        try:
            count = store.requeue_orphan_slices()
        except StoreError as exc:
            logger.warning("orphan slices not re-queued", error=str(exc))
            return
        if count:
            logger.warning("orphan slices re-queued", slices=count)
