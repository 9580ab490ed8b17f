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
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from rocketjob import timeouts
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


class SliceRunner:
    """Runs claimed slices for one worker process (shared by its threads)."""

    def __init__(
        self,
        store: Store,
        on_error: OnError,
        job_context: Callable[[Job], AbstractContextManager[Any]] | None = None,
        keep_going: Callable[[], bool] = lambda: True,
    ) -> None:
        self.store = store
        self.keep_going = keep_going
        self.slices = slice_store(store)
        self.on_error = on_error
        self.job_context = job_context or (lambda job: nullcontext())
        self._jobs: OrderedDict[str, tuple[float, BatchJob]] = OrderedDict()

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
            with self.job_context(job):
                changes = self._perform(job, doc)
            key = (doc["job_id"], doc["number"], doc["worker_name"])
            following: SliceDoc | None = None
            if self.keep_going():
                limit = type(job).throttle_running_workers
                written, following = self.slices.finish_and_claim_slice(
                    *key, changes, utcnow(), limit
                )
            else:
                written = self.slices.finish_slice(*key, changes)
            if written and following is None:
                self._end_if_last(job, doc["worker_name"])
            if following is not None:
                following["id"] = f"{following['job_id']}/{following['number']}"
            return following
        except Exception as exc:  # the store or a decoding error: the slice stays running
            logger.error("slice not run", job_id=doc.get("job_id"), slice=doc.get("number"),
                         error=repr(exc))  # fmt: skip
            return None

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

    def _perform(self, job: BatchJob, doc: SliceDoc) -> dict[str, Any]:
        """Run the slice's records within the job's time limit (``timeout``: per slice,
        JobTimeout raised in the record running at the limit); the changes its outcome
        writes."""
        records = loads_list(doc["records"])
        failure = doc.get("failure")
        start = int(failure["index"]) if failure else 0
        collect = job.collect_output
        output: list[Any] = []
        if collect and doc.get("output"):
            output = loads_list(doc["output"])[:start]
        perform, append = job.perform, output.append
        limit = job.time_limit
        name = f"{job.id}/{doc['number']}"
        reason = f"slice {name} ({job.job_class}) ran past its timeout of {limit or 0:g} s"
        index = start
        try:
            with timeouts.limit(limit, reason, name):
                for index in range(start, len(records)):
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

    def _end_if_last(self, job: BatchJob, worker: str) -> None:
        """If no slice is left to run, take the job (one thread wins) and end it."""
        counts = self.slices.count_slices(job.id or "")
        if counts.get("queued") or counts.get("running"):
            return
        if not self.slices.take_batch_job(job.id or "", worker):
            return
        doc = self.store.get_job(job.id or "")
        if doc is None:
            return
        fresh = Job.from_doc(doc)
        if isinstance(fresh, BatchJob):
            end_batch(fresh, worker, counts, self.store, self.on_error)
            self._jobs.pop(job.id or "", None)


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
