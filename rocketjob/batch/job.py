"""``rocketjob.BatchJob``: one job, millions of records, sliced across every worker.

How a batch job moves (the states are the job's own, rocketjob.state.EVENTS):

1. ``upload`` stores the job (queued) and its input as slices in one step.
2. A worker claims the job like any other (``start``: priority, run_at, expires_at,
   processing windows, throttles and singleton all apply here). That thread runs
   ``before_batch`` once, then *opens* the batch: the job stays running with no worker,
   and its slices become claimable (:meth:`rocketjob.store.slices.SliceStore.claim_slices`).
3. Every worker thread of every server claims slices by demand and calls ``perform`` per
   record (rocketjob.batch.runner).
4. The thread whose slice leaves none queued or running takes the job (a compare-and-set
   in the store: exactly one does) and ends it: ``after_batch`` then ``complete`` when
   every slice completed, ``fail`` (rocketjob.BatchFailed) when any failed.

A worker that dies while holding the job (before_batch, after_batch) has it re-queued like
any job; a re-queued job that was opened already skips ``before_batch``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, ClassVar, Self

from rocketjob.batch.fastjson import loads_list
from rocketjob.batch.output import iter_output, write_output
from rocketjob.batch.source import Slicer, Source, read_records
from rocketjob.connection import current_store
from rocketjob.enqueue import BEFORE_INSERT, Enqueuer
from rocketjob.errors import DuplicateJob, RocketJobError, ValidationError
from rocketjob.job import Job, JobException
from rocketjob.lifecycle import OnError
from rocketjob.state import JobState
from rocketjob.store.base import Finish
from rocketjob.store.slices import SliceStore, slice_store

#: Largest ``slice_size``: a slice is one row or document (MongoDB's limit is 16 MiB).
MAX_SLICE_SIZE = 100_000
_OPEN, _END = "open", "end"


class BatchFailed(RocketJobError):
    """A batch job ended with failed records (see ``job.failed_records()``)."""


class BatchJob(Job):
    """A job whose input is split into slices that every worker processes in parallel.

    Define ``perform(record)``; optionally ``before_batch`` and ``after_batch``. Class
    settings: ``slice_size`` (records per slice, 1..100,000), ``collect_output`` (keep
    each ``perform`` value, in input order) and ``throttle_running_workers`` (most
    slices of one job in flight at once; 0 = no limit)."""

    slice_size: ClassVar[int] = 100
    throttle_running_workers: ClassVar[int] = 0
    pausable: ClassVar[bool] = True

    #: Records and slices in the input (set by upload).
    record_count: int = 0
    slice_count: int = 0
    #: True once before_batch has run and the slices were opened.
    batch_opened: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        size = cls.slice_size
        if type(size) is not int or not 1 <= size <= MAX_SLICE_SIZE:
            raise ValidationError(
                f"{cls.__qualname__}.slice_size must be an integer from 1 to "
                f"{MAX_SLICE_SIZE:,}, got {size!r}"
            )
        limit = cls.throttle_running_workers
        if type(limit) is not int or limit < 0:
            raise ValidationError(
                f"{cls.__qualname__}.throttle_running_workers must be an integer >= 0 "
                f"(0 = no limit), got {limit!r}"
            )

    # -- what a batch job class defines ---------------------------------------------------
    def perform(self, record: Any) -> object:
        """The work for one record; its value is kept when ``collect_output`` is true."""
        raise NotImplementedError(f"{type(self).__qualname__} must define perform(record)")

    def before_batch(self) -> None:
        """Runs once, before the first slice (override it)."""

    def after_batch(self) -> None:
        """Runs once, after the last slice, when every record succeeded (override it)."""

    def input(self) -> Source | None:
        """The records of a batch job that starts without any (a cron instance, or one
        made by ``perform_later``): a path or an iterable, as for ``upload``. Called once,
        after ``before_batch``, by the worker that starts the job; None (the default):
        no records, only ``before_batch`` and ``after_batch`` run."""
        return None

    # -- uploading --------------------------------------------------------------------------
    @classmethod
    def upload(
        cls, source: Source, *, on_progress: Callable[[int], None] | None = None, **fields: Any
    ) -> Self:
        """Store a new queued batch job whose records are ``source``: a path (``.csv``
        with a header row, ``.jsonl``, ``.txt``; ``.gz`` or ``.zip`` compressed) or any
        iterable. ``fields`` are job options and fields (priority, run_at, ...).
        Streamed: the input is never held whole. All or nothing: a bad record stores
        nothing (ValidationError naming it). ``on_progress(records)`` is told as slices
        are written."""
        job, doc = Enqueuer(cls, fields).build({"args": [], "kwargs": {}}, {})
        slicer = Slicer(cls.slice_size, on_progress)
        store = slice_store(current_store())
        with ExitStack() as stack:
            records = read_records(source, stack)

            def stream() -> Iterator[Any]:
                yield from slicer.slices_of(records)
                job.record_count, job.slice_count = slicer.records, slicer.slices
                doc["fields"] = job.to_doc()["fields"]  # the job row is written last

            for hook in BEFORE_INSERT:
                hook([doc])
            try:
                store.insert_batch_job(doc, stream())
            except DuplicateJob:
                raise DuplicateJob(
                    f"{cls.__qualname__} is a singleton job class: another instance is "
                    "already queued, running or paused; nothing was stored"
                ) from None
        return job

    # -- watching ---------------------------------------------------------------------------
    def _slices(self) -> SliceStore:
        return slice_store(current_store())

    def slice_counts(self) -> dict[str, int]:
        """Slices per state: ``{"queued", "running", "completed", "failed"}``."""
        counts = self._slices().count_slices(self._require_id())
        return {state: counts.get(state, 0) for state in ("queued", "running", "completed",
                                                         "failed")}  # fmt: skip

    def reload(self) -> Self:
        """Re-read the job; while it runs, ``percent_complete`` follows its slices."""
        super().reload()
        if self.state == JobState.RUNNING and self.slice_count:
            counts = self.slice_counts()
            done = counts["completed"] + counts["failed"]
            self.percent_complete = min(100, done * 100 // self.slice_count)
        return self

    def status(self) -> dict[str, Any]:
        """``Job.status()`` plus ``slices`` (counts by state) and ``record_count``."""
        out = super().status()
        out["slices"] = self.slice_counts() if self.id is not None else {}
        out["record_count"] = self.record_count
        return out

    def failed_records(self) -> list[tuple[int, Any, JobException]]:
        """``(number, record, exception)`` of each failed record: its 1-based number
        within the whole input, the record, and what it raised."""
        out = []
        for doc in self._slices().failed_slices(self._require_id()):
            failure = doc["failure"] or {}
            records = loads_list(doc["records"])
            index = int(failure.get("index", 0))
            record = records[index] if index < len(records) else None
            out.append((int(failure.get("record_number", 0)), record,
                        JobException(failure.get("exception") or {})))  # fmt: skip
        return out

    # -- output -------------------------------------------------------------------------------
    def output(self) -> Iterator[Any]:
        """Every ``perform`` value (``collect_output``), in input order, streamed."""
        return iter_output(self._slices(), self._require_id())

    def download(self, path: str | Path) -> int:
        """Write the output to ``path`` (``.csv``: columns from the first dict, or one
        column; ``.jsonl``; ``.txt``; gzip when it ends in ``.gz``). Returns the count."""
        return write_output(self.output(), path)

    # -- events on slices -------------------------------------------------------------------
    def retry(self, run_at: dt.datetime | None = None) -> Self:
        """failed -> queued: each failed slice runs again from its failed record."""
        if self.state in self.allowed_sources("retry") and self.id is not None:
            self._slices().retry_slices(self.id)
        return super().retry(run_at)

    def destroy(self) -> None:
        """Delete the job and its slices."""
        super().destroy()
        self._slices().delete_slices(self._require_id())

    # -- the opener and the end (run by the worker that claimed the job) ------------------
    def run_perform(self) -> object:
        """As claimed by a worker: run ``before_batch`` and open the slices, or, when
        none is left to run, end the batch (``after_batch``, or BatchFailed)."""
        if self.id is None:  # perform_now(record): one record, inline
            return super().run_perform()
        if not self.batch_opened:
            self.run_callback("before_batch")
            if not self.slice_count:
                self._store_input()
            self.batch_opened = True
        counts = self._slices().count_slices(self.id)
        if counts.get("queued") or counts.get("running"):
            self.__dict__["_phase"] = _OPEN
            return None
        self.__dict__["_phase"] = _END
        self.end_batch(counts)
        return None

    def _store_input(self) -> None:
        """Store the records ``input()`` gives as this job's slices (streamed, like an
        upload). Slices a previous start stored before its worker died are replaced:
        the counts are written only when the job is opened."""
        source = self.input()
        if source is None:
            return
        store, job_id = self._slices(), self._require_id()
        store.delete_slices(job_id)
        slicer = Slicer(type(self).slice_size)
        with ExitStack() as stack:
            store.insert_slices(job_id, slicer.slices_of(read_records(source, stack)))
        self.record_count, self.slice_count = slicer.records, slicer.slices

    def end_batch(self, counts: dict[str, int]) -> None:
        """``after_batch`` when every slice completed; raise BatchFailed otherwise."""
        failed = counts.get("failed", 0)
        if failed:
            raise BatchFailed(
                f"{failed} of {sum(counts.values())} slices have a failed record; see "
                "failed_records(), then retry()"
            )
        self.run_callback("after_batch")

    def worker_outcome(
        self,
        event: str,
        worker: str,
        now: dt.datetime,
        on_error: OnError | None = None,
        *,
        result: Any = None,
        exc: BaseException | None = None,
        run_at: dt.datetime | None = None,
    ) -> Finish:
        """Opening the slices is written as the job staying running with no worker;
        every other outcome is a job's."""
        if event == "complete" and self.__dict__.get("_phase") == _OPEN:
            changes = {"worker_name": None, "server_name": None, "fields": self.to_doc()["fields"]}
            return Finish(self._require_id(), worker, changes=changes)
        return super().worker_outcome(
            event, worker, now, on_error, result=result, exc=exc, run_at=run_at
        )

    def outcome_written(
        self, event: str, finish: Finish, now: dt.datetime, on_error: OnError
    ) -> None:
        """After opening: nothing more (the job goes on running). After the end: the
        job's callbacks and behaviours; a destroyed job's slices are deleted."""
        if event == "complete" and self.__dict__.get("_phase") == _OPEN:
            self.worker_name = self.server_name = None
            return
        super().outcome_written(event, finish, now, on_error)
        if finish.destroy:
            try:
                self._slices().delete_slices(self._require_id())
            except Exception as exc:  # reported; Housekeeping removes them later
                on_error(self, "delete slices", exc)
