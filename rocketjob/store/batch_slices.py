"""The SliceStore methods of a store, written once for every engine.

Each engine keeps its batch slices in a ``Slices`` collaborator of its own (tables or a
collection: ``store/<engine>/slices.py``) that implements
:class:`rocketjob.store.slices.SliceStore`; this mixin forwards the contract's methods to
it, so a store class is a :class:`SliceStore` without the forwarding written out in every
engine, and the collaborator owns its own state (the tables created once, the indexes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rocketjob.store.base import JobDoc
from rocketjob.store.slices import NewSlice, SliceDoc, SliceStore


class BatchSlices:
    """The slice part of a store, forwarded to ``self._slices`` (see the contract in
    :mod:`rocketjob.store.slices`)."""

    _slices: SliceStore

    def insert_batch_job(self, doc: JobDoc, slices: Iterable[NewSlice]) -> int:
        """Store the job and every slice, all or none; how many slices were stored."""
        return self._slices.insert_batch_job(doc, slices)

    def insert_slices(self, job_id: str, slices: Iterable[NewSlice]) -> int:
        """Store more slices for an existing job, all or none; how many were stored."""
        return self._slices.insert_slices(job_id, slices)

    def claim_slices(
        self,
        worker_names: Sequence[str],
        job_classes: Sequence[str],
        now: dt.datetime,
        limits: Mapping[str, int],
    ) -> list[SliceDoc]:
        """Atomically move up to ``len(worker_names)`` queued slices to running."""
        return self._slices.claim_slices(worker_names, job_classes, now, limits)

    def finish_slice(
        self, job_id: str, number: int, worker_name: str, changes: Mapping[str, Any]
    ) -> bool:
        """Write a slice's outcome if it is still running on ``worker_name``."""
        return self._slices.finish_slice(job_id, number, worker_name, changes)

    def finish_and_claim_slice(
        self,
        job_id: str,
        number: int,
        worker_name: str,
        changes: Mapping[str, Any],
        now: dt.datetime,
        limit: int,
    ) -> tuple[bool, SliceDoc | None]:
        """``finish_slice``, then claim the job's next slice for the same worker."""
        return self._slices.finish_and_claim_slice(job_id, number, worker_name, changes, now, limit)

    def count_slices(self, job_id: str) -> dict[str, int]:
        """Slices of the job per state."""
        return self._slices.count_slices(job_id)

    def failed_slices(self, job_id: str) -> list[SliceDoc]:
        """The job's failed slices, by number."""
        return self._slices.failed_slices(job_id)

    def read_slices(self, job_id: str, after: int, limit: int) -> list[SliceDoc]:
        """A page of the job's slices numbered after ``after``."""
        return self._slices.read_slices(job_id, after, limit)

    def retry_slices(self, job_id: str) -> int:
        """Move the job's failed slices back to queued; how many."""
        return self._slices.retry_slices(job_id)

    def requeue_slices(self, server_name: str) -> int:
        """Move every running slice of ``server_name`` back to queued; how many."""
        return self._slices.requeue_slices(server_name)

    def requeue_orphan_slices(self) -> int:
        """Move every running slice whose server is not registered back to queued."""
        return self._slices.requeue_orphan_slices()

    def delete_slices(self, job_id: str) -> int:
        """Delete every slice of the job; how many."""
        return self._slices.delete_slices(job_id)

    def take_batch_job(self, job_id: str, worker_name: str) -> bool:
        """Give the opened job to ``worker_name``; True for exactly one caller."""
        return self._slices.take_batch_job(job_id, worker_name)
