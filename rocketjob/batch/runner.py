"""Running one claimed slice on a worker thread, and ending the batch after the last one.

A slice runs ``perform`` on each of its records, from the failed record when it is a
retried slice (the output of the records before it is kept). The first record that
raises stops the slice: it is written ``failed`` with the exception and the record's
1-based number within the whole input; other slices go on. The write is a compare-and-set
on the slice still running on this thread (a slice re-queued meanwhile is not
overwritten).

After writing its slice, a thread that sees no slice of the job left queued or running
tries to take the job (``take_batch_job``, a compare-and-set: of racing threads exactly
one wins) and ends it: ``after_batch`` then ``complete``, or ``fail`` with BatchFailed,
through the job's lifecycle (callbacks, retry, cron, destroy_on_complete).

Fault containment, as for jobs (:mod:`rocketjob.runboard`): a slice is written on its
thread's slot of the run board while it runs (the batch job's id, the slice's number,
its hard time limit), and each record's index before it runs, so the supervisor can fail
a slice that killed its worker ``[worker] max_crashes`` times, or that ran past
``timeout + timeout_grace``, at the record that was running
(:mod:`rocketjob.batch.crashes`).

Progress: after a slice, a job's stored ``percent_complete`` is brought up to date, at
most once per :data:`PROGRESS_SECONDS` per job and worker process (one count of its
slices and one UPDATE), so job listings show a running batch's progress.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from rocketjob import runboard, timeouts
from rocketjob.batch.fastjson import dumps_list, loads_list
from rocketjob.batch.job import BatchJob
from rocketjob.clock import utcnow
from rocketjob.errors import StoreError
from rocketjob.job import Job
from rocketjob.lifecycle import OnError, exception_dict
from rocketjob.log import logger
from rocketjob.store.base import Store
from rocketjob.store.slices import SliceDoc, slice_store

#: Batch jobs kept loaded per worker process (their fields do not change while running).
CACHED_JOBS = 32
#: How long a loaded batch job is trusted before it is read again (seconds).
CACHE_SECONDS = 5.0
#: Seconds between two writes of one job's ``percent_complete`` by one worker process.
PROGRESS_SECONDS = 1.0


class SliceRunner:
    """Runs claimed slices for one worker process (shared by its threads)."""

    def __init__(
        self,
        store: Store,
        on_error: OnError,
        job_context: Callable[[Job], AbstractContextManager[Any]] | None = None,
        keep_going: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.clock = clock
        self.keep_going = keep_going
        self.slices = slice_store(store)
        self.on_error = on_error
        self.job_context = job_context or (lambda job: nullcontext())
        self._jobs: OrderedDict[str, tuple[float, BatchJob]] = OrderedDict()
        self._progress_at: dict[str, float] = {}

    def run(self, doc: SliceDoc) -> None:
        """Run the claimed slice ``doc``, write its outcome, and go on with the job's next
        slices (claimed in the same transaction as each outcome) while ``keep_going()``.
        Never raises."""
        current: SliceDoc | None = doc
        while current is not None:
            current = self._run_one(current)

    def _run_one(self, doc: SliceDoc) -> SliceDoc | None:
        """Run one slice; the next slice claimed for this thread, or None."""
        try:
            job = self._job(doc["job_id"])
            if job is None:  # deleted meanwhile: its slices go with it
                return None
            slot = runboard.job_started(doc["worker_name"], doc["job_id"], time.monotonic(),
                                        job.time_limit, doc["number"])  # fmt: skip
            try:
                written, following = self._run_and_write(job, doc, slot)
            finally:
                runboard.job_ended(slot)
            if (
                written
                and following is None
                and end_if_last(self.store, job.id or "", doc["worker_name"], self.on_error)
            ):
                self._jobs.pop(job.id or "", None)
                self._progress_at.pop(job.id or "", None)
            elif written:
                self._progress(job)
            if following is not None:
                following["id"] = f"{following['job_id']}/{following['number']}"
            return following
        except Exception as exc:  # the store or a decoding error: the slice stays running
            logger.error("slice not run", job_id=doc.get("job_id"), slice=doc.get("number"),
                         error=repr(exc))  # fmt: skip
            return None

    def _run_and_write(
        self, job: BatchJob, doc: SliceDoc, slot: int
    ) -> tuple[bool, SliceDoc | None]:
        """Run the slice and write its outcome; (written, the next slice claimed)."""
        with self.job_context(job):
            changes = self._perform(job, doc, slot)
        key = (doc["job_id"], doc["number"], doc["worker_name"])
        if not self.keep_going():
            return self.slices.finish_slice(*key, changes), None
        limit = type(job).throttle_running_workers
        return self.slices.finish_and_claim_slice(*key, changes, utcnow(), limit)

    def _progress(self, job: BatchJob) -> None:
        """Store the job's percent_complete, at most once per PROGRESS_SECONDS."""
        job_id, now = job.id or "", self.clock()
        if now - self._progress_at.get(job_id, -PROGRESS_SECONDS) < PROGRESS_SECONDS:
            return
        if len(self._progress_at) >= CACHED_JOBS:
            self._progress_at.clear()
        self._progress_at[job_id] = now
        counts = self.slices.count_slices(job_id)
        total = sum(counts.values())
        if total:
            done = counts.get("completed", 0) + counts.get("failed", 0)
            self.store.update_job(job_id, {"percent_complete": min(99, done * 100 // total)},
                                  from_states=["running"])  # fmt: skip

    def _job(self, job_id: str) -> BatchJob | None:
        now = time.monotonic()
        cached = self._jobs.get(job_id)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        doc = self.store.get_job(job_id)
        job = Job.from_doc(doc) if doc is not None else None
        if not isinstance(job, BatchJob):
            self._jobs.pop(job_id, None)
            return None
        self._jobs[job_id] = (now, job)
        while len(self._jobs) > CACHED_JOBS:
            self._jobs.popitem(last=False)
        return job

    def _perform(self, job: BatchJob, doc: SliceDoc, slot: int) -> dict[str, Any]:
        """Run the slice's records within the job's time limit (``timeout``: per slice,
        JobTimeout raised in the record running at the limit); the changes its outcome
        writes."""
        records = loads_list(doc["records"])
        failure = doc.get("failure")
        start = int(failure.get("index", 0)) if failure else 0
        collect = job.collect_output
        output: list[Any] = []
        if collect and start:
            output = loads_list(doc["output"])[:start] if doc.get("output") else []
            if len(output) != start:  # failed by a crash: no output kept, so from the start
                output, start = [], 0
        perform, append = job.perform, output.append
        marks, mark = runboard.record_marks(slot)
        limit = job.time_limit
        name = f"{job.id}/{doc['number']}"
        reason = f"slice {name} ({job.job_class}) ran past its timeout of {limit or 0:g} s"
        index = start
        try:
            with timeouts.limit(limit, reason, name):
                for index in range(start, len(records)):
                    marks[mark] = index
                    value = perform(records[index])
                    if collect:
                        append(value)
        except Exception as exc:  # a record's own error (or the time limit): on the slice
            number = doc["first_record"] + index
            logger.error("batch record failed", job_id=job.id, record_number=number,
                         error=type(exc).__name__)  # fmt: skip
            return {
                "state": "failed", "completed_at": utcnow(), "output": _dumps(output, collect),
                "failure": {"exception": exception_dict(exc, doc["worker_name"]),
                            "record_number": number, "index": index},
            }  # fmt: skip
        return {"state": "completed", "completed_at": utcnow(), "failure": None,
                "output": _dumps(output, collect)}  # fmt: skip


def end_if_last(store: Store, job_id: str, worker: str, on_error: OnError) -> bool:
    """If no slice of the job is left to run, take the job (one caller wins) for
    ``worker`` and end it; True if this call ended it."""
    slices = slice_store(store)
    counts = slices.count_slices(job_id)
    if counts.get("queued") or counts.get("running"):
        return False
    if not slices.take_batch_job(job_id, worker):
        return False
    doc = store.get_job(job_id)
    if doc is None:
        return False
    fresh = Job.from_doc(doc)
    if not isinstance(fresh, BatchJob):
        return False
    end_batch(fresh, worker, counts, store, on_error)
    return True


def end_batch(
    job: BatchJob, worker: str, counts: dict[str, int], store: Store, on_error: OnError
) -> None:
    """End a batch job this worker took: after_batch and complete, or fail."""
    job.__dict__["_phase"] = "end"
    event, exc = "complete", None
    try:
        job.end_batch(counts)
    except Exception as error:  # after_batch raised, or records failed: the job fails
        event, exc = "fail", error
    try:
        finish = job.worker_outcome(event, worker, utcnow(), on_error, exc=exc)
    except Exception as error:  # before_complete raised: the job fails
        event, exc = "fail", error
        finish = job.worker_outcome(event, worker, utcnow(), on_error, exc=exc)
    try:
        written = store.finish_jobs([finish])
    except StoreError as error:  # the job stays running on this worker: requeued if we die
        logger.error("batch outcome not written", job_id=job.id, error=str(error))
        return
    if written:
        job.outcome_written(event, finish, utcnow(), on_error)
        logger.info("batch job ended", job_id=job.id, outcome=event)


def _dumps(output: list[Any], collect: bool) -> str | None:
    return dumps_list(output, "output") if collect else None
