"""Crash accounting for the slices of batch jobs: the supervisor's side (DESIGN "Fault
containment"; for jobs see :mod:`rocketjob.supervisor.crashes`).

A worker thread notes on its run board the slice it runs and the index of the record it
runs (:mod:`rocketjob.batch.runner`). When the worker process ends, each slice that was
running there is, in the store:

* failed with :class:`rocketjob.JobTimeout` when the supervisor killed the process because
  the slice ran past its hard time limit (``timeout + [worker] timeout_grace``);
* when the process died abnormally, given ``crash_count += 1`` and re-queued, or, at
  ``[worker] max_crashes``, failed with :class:`rocketjob.WorkerCrashed` naming the
  crashes, the signal or exit status, the server and the record that was running;
* otherwise left to the bulk re-queue of the server's slices, without penalty.

A failed slice keeps the record that was running as its failed record (its 1-based
number in the whole input), like a record that raised: ``failed_records()`` lists it and
``retry()`` runs the slice again (from that record when no output is collected; from its
first record otherwise, since the output of the records before it died with the worker).

Every slice running in a crashed process is blamed alike. A slice with crashes is a
*suspect*, and claims run at most one suspect slice of a job at a time (the store
contract, :mod:`rocketjob.store.slices`), so a poison slice is re-run beside unblamed
slices only: an innocent slice that ran beside it once is never beside it again, and
cannot reach ``max_crashes`` with it.

A slice failed here may have been the job's last: after the server's other slices are
re-queued, :func:`end_batches` ends such a job (``after_batch`` is skipped, the job fails
with BatchFailed) as its last worker thread would have.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from rocketjob.batch.runner import end_if_last
from rocketjob.clock import utcnow
from rocketjob.errors import JobTimeout, WorkerCrashed
from rocketjob.lifecycle import OnError, exception_dict
from rocketjob.log import logger
from rocketjob.runboard import Running
from rocketjob.store.base import Store
from rocketjob.store.slices import SliceStore

#: What became of a slice: failed for its time limit, failed for its crashes, re-queued.
TIMED_OUT, QUARANTINED, CRASHED = "timed_out", "quarantined", "crashed"


class Dead(Protocol):
    """What the supervisor knows of the dead worker (rocketjob.supervisor.crashes)."""

    @property
    def server_name(self) -> str: ...
    @property
    def how(self) -> str: ...
    @property
    def crashed(self) -> bool: ...
    @property
    def timed_out(self) -> Iterable[str]: ...


def release_slice(store: Store, entry: Running, dead: Dead, max_crashes: int) -> str | None:
    """Account for the slice of ``entry`` (a board entry with ``entry.slice``): TIMED_OUT,
    QUARANTINED, CRASHED, or None when it is left to the bulk re-queue (or it moved
    meanwhile: each write is a compare-and-set on the slice still running on that
    thread)."""
    if not isinstance(store, SliceStore):
        return None
    page = store.read_slices(entry.job_id, entry.slice - 1, 1)
    if not page or page[0]["number"] != entry.slice or page[0]["state"] != "running":
        return None
    doc = page[0]
    worker = f"{dead.server_name}:{entry.slot + 1}"  # thread N has slot N - 1
    record = int(doc["first_record"]) + entry.record
    what = f"slice {entry.slice} of batch job {entry.job_id}"
    crashes = int(doc.get("crash_count") or 0)
    if entry.key in set(dead.timed_out):
        outcome = TIMED_OUT
        exc: Exception = JobTimeout(
            f"{what} ran past its hard time limit (timeout + [worker] timeout_grace) while "
            f"running record {record}; its worker process was killed ({dead.how}, server "
            f"{dead.server_name})"
        )
    elif dead.crashed:
        crashes += 1
        if crashes < max_crashes:
            changes = {"state": "queued", "crash_count": crashes, "started_at": None}
            if not store.finish_slice(entry.job_id, entry.slice, worker, changes):
                return None
            logger.warning("slice re-queued after its worker crashed", job_id=entry.job_id,
                           slice=entry.slice, crash_count=crashes, how=dead.how)  # fmt: skip
            return CRASHED
        outcome = QUARANTINED
        exc = WorkerCrashed(
            f"its worker process died ({dead.how}, server {dead.server_name}) while running "
            f"{what}, {crashes} times ([worker] max_crashes = {max_crashes}); record "
            f"{record} was running the last time"
        )
    else:
        return None
    changes = {
        "state": "failed", "completed_at": utcnow(), "crash_count": crashes,
        "failure": {"exception": exception_dict(exc, worker), "record_number": record,
                    "index": entry.record},
    }  # fmt: skip
    if not store.finish_slice(entry.job_id, entry.slice, worker, changes):
        return None
    logger.error("slice failed; its worker died", job_id=entry.job_id, slice=entry.slice,
                 record_number=record, outcome=outcome, how=dead.how)  # fmt: skip
    return outcome


def end_batches(store: Store, job_ids: Iterable[str], server_name: str, on_error: OnError) -> None:
    """End each batch job of ``job_ids`` that has no slice left to run (a slice failed
    by :func:`release_slice` was its last), as ``server_name``'s supervisor."""
    for job_id in dict.fromkeys(job_ids):
        try:
            if end_if_last(store, job_id, f"{server_name}:0", on_error):
                logger.info("batch job ended by the supervisor", job_id=job_id)
        except Exception as exc:  # boundary: the store may be down; reported, not raised
            logger.error("batch job not ended", job_id=job_id, error=repr(exc))
