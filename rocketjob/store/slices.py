"""The slices contract: how a store keeps the input and output of batch jobs.

A batch job (:class:`rocketjob.BatchJob`) is one job document plus its *slices*: rows (or
documents) keyed by ``(job_id, number)``, each holding up to ``slice_size`` records. Every
store (SQLite, PostgreSQL, MongoDB) implements :class:`SliceStore` and passes the contract
suite ``tests/store/test_contract_slices.py`` unchanged.

Slice documents
    A *slice document* is a ``dict`` with the keys of :data:`SLICE_FIELDS`. ``records`` and
    ``output`` are JSON text of values already encoded by :mod:`rocketjob.codec` (a list),
    so a store never parses them; ``failure`` is None or a plain dict.

Guarantees every store gives
    * ``insert_batch_job`` stores the job and all its slices, or nothing: one transaction
      on SQLite and PostgreSQL. MongoDB has no multi-document transaction here: it inserts
      the slices first and the job last, and deletes the slices when anything fails; a
      process killed in the middle leaves slices without a job, which no claim ever sees
      (claims join on a running job) and which ``delete_slices`` of that id removes.
    * ``claim_slices`` never hands one slice to two callers, takes only slices of jobs
      that are running and opened (``worker_name`` null: ``before_batch`` has run), by
      job priority then job id then slice number, and never lets more slices of one job
      run at once than its class's limit.
    * ``finish_slice`` compares and sets: it writes only while the slice is still running
      on the given worker.
    * ``take_batch_job`` is a compare-and-set on the job: of many callers exactly one
      gets it.
    * Deleting a job deletes its slices (``delete_job``, ``delete_jobs``, a destroyed
      finish).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from rocketjob.errors import ValidationError
from rocketjob.store.base import JobDoc, Store

SliceDoc = dict[str, Any]

#: Every key of a slice document, with its meaning.
SLICE_FIELDS: dict[str, str] = {
    "job_id": "str: the batch job",
    "number": "int: 1-based position of the slice in the input",
    "state": "queued, running, completed or failed",
    "first_record": "int: 1-based number, within the whole input, of its first record",
    "record_count": "int: records in the slice",
    "records": "JSON text: the codec-encoded list of records",
    "output": "JSON text or None: the codec-encoded list of perform() values so far",
    "failure": "None or {exception: {...}, record_number, index}: the record that failed",
    "worker_name": "str host:pid:thread running it, or None",
    "server_name": "str host:pid running it, or None",
    "started_at": "datetime or None",
    "completed_at": "datetime or None",
}

#: States of a slice.
SLICE_STATES = ("queued", "running", "completed", "failed")


class NewSlice(NamedTuple):
    """A slice as uploaded: its number, first record number, size and records (JSON)."""

    number: int
    first_record: int
    record_count: int
    records: str


@runtime_checkable
class SliceStore(Protocol):
    """What a store implements to hold batch jobs (see the module docstring)."""

    def insert_batch_job(self, doc: JobDoc, slices: Iterable[NewSlice]) -> int:
        """Store the job ``doc`` and every slice (consumed as a stream, written in the
        engine's fastest bulk way), all or none; return how many slices were stored.
        An error raised while iterating ``slices`` stores nothing and is raised as is.
        ``doc`` is read once ``slices`` is exhausted, so the caller may complete it while
        streaming (the record and slice counts)."""

    def insert_slices(self, job_id: str, slices: Iterable[NewSlice]) -> int:
        """Store ``slices`` (a stream, as for ``insert_batch_job``) for the existing job
        ``job_id``, all or none; return how many. A batch job reading its own input when
        it starts (``BatchJob.input``) uses it."""

    def claim_slices(
        self,
        worker_names: Sequence[str],
        job_classes: Sequence[str],
        now: dt.datetime,
        limits: Mapping[str, int],
    ) -> list[SliceDoc]:
        """Atomically move up to ``len(worker_names)`` queued slices to running (the
        i-th gets ``worker_names[i]``, its ``host:pid`` as server_name, ``started_at =
        now``). Only slices of running jobs whose ``worker_name`` is null and whose class
        is in ``job_classes``; highest job priority first, then job id, then number.
        ``limits`` maps a class to the most slices of one of its jobs running at once."""

    def finish_slice(
        self, job_id: str, number: int, worker_name: str, changes: Mapping[str, Any]
    ) -> bool:
        """Apply ``changes`` (state, output, failure, completed_at; worker and server are
        cleared) if the slice is still running on ``worker_name``; True if written."""

    def finish_and_claim_slice(
        self,
        job_id: str,
        number: int,
        worker_name: str,
        changes: Mapping[str, Any],
        now: dt.datetime,
        limit: int,
    ) -> tuple[bool, SliceDoc | None]:
        """``finish_slice``, then (when it was written and the job is still running and
        opened) claim the job's next queued slice for the same worker within ``limit``
        (0 = none), in one transaction where the engine has them: a busy thread pays one
        commit per slice. Returns (written, the next slice or None)."""

    def count_slices(self, job_id: str) -> dict[str, int]:
        """Slices of the job per state (states with none are left out)."""

    def failed_slices(self, job_id: str) -> list[SliceDoc]:
        """The job's failed slices, by number (records included)."""

    def read_slices(self, job_id: str, after: int, limit: int) -> list[SliceDoc]:
        """Up to ``limit`` slices numbered after ``after``, by number (a page of the
        output: ``number``, ``state``, ``output``, ``record_count``; records left out)."""

    def retry_slices(self, job_id: str) -> int:
        """Move the job's failed slices back to queued (their failure kept, so a run
        resumes at the failed record); return how many."""

    def requeue_slices(self, server_name: str) -> int:
        """Move every running slice of ``server_name`` back to queued; return how many."""

    def requeue_orphan_slices(self) -> int:
        """Move every running slice whose server is not registered (a reaper died
        before re-queueing a zombie's slices) back to queued; return how many."""

    def delete_slices(self, job_id: str) -> int:
        """Delete every slice of the job; return how many."""

    def take_batch_job(self, job_id: str, worker_name: str) -> bool:
        """Compare and set: if the job is running with no worker, give it to
        ``worker_name`` (its server part as server_name). True for exactly one caller."""


def slice_store(store: Store) -> SliceStore:
    """``store`` as a :class:`SliceStore`; ValidationError when it cannot hold slices."""
    if not isinstance(store, SliceStore):
        raise ValidationError(
            f"store {store.url} cannot hold batch jobs; use a sqlite://, postgresql:// "
            "or mongodb:// store"
        )
    return store


def server_of(worker_name: str) -> str:
    """The ``host:pid`` part of a worker name ``host:pid:thread``."""
    return worker_name.rsplit(":", 1)[0]
