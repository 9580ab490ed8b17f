"""Crash accounting: what becomes of a dead worker's jobs (DESIGN "Fault containment").

When a worker process ends, the supervisor reads its run board (:mod:`rocketjob.runboard`)
to tell the jobs that were *running* (``perform`` had started) from those merely claimed
ahead, then, in the store:

* a job killed for its hard time limit (the supervisor killed the process because the job
  was still running ``timeout_grace`` seconds past its ``timeout``) is failed with
  :class:`rocketjob.JobTimeout`;
* when the process died abnormally (a signal it was not sent by the supervisor,
  ``os._exit``, the OOM killer, a segfault), each job that was running gets
  ``crash_count += 1`` and is re-queued, or, at ``[worker] max_crashes``, is failed with
  :class:`rocketjob.WorkerCrashed` naming the signal or exit status and the server;
* every other job of the process (claimed ahead, or running in a process stopped on
  purpose) is re-queued without penalty.

Each write is a compare-and-set on the job still running on that server, so a job that
moved meanwhile is left alone. Failures go through the job's ``fail`` event (its
``before_fail``/``after_fail`` callbacks and behaviours such as ``retry_limit`` run here,
in the supervisor, on the store it opened for the release).

A slice of a batch job that was running gets the same accounting, on the slice
(:mod:`rocketjob.batch.crashes`).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Collection
from dataclasses import dataclass, field

from rocketjob.batch import crashes as slice_crashes
from rocketjob.clock import utcnow
from rocketjob.errors import JobTimeout, WorkerCrashed
from rocketjob.job import Job, resolve_class
from rocketjob.log import logger
from rocketjob.requeue import log_callback_error
from rocketjob.runboard import Running
from rocketjob.store import Store


@dataclass(frozen=True)
class DeadWorker:
    """What the supervisor knows of a worker process that ended."""

    server_name: str
    #: ``SIGKILL`` or ``exit 1``: how it ended.
    how: str
    #: True when it died on its own (not stopped, recycled or killed by the supervisor).
    crashed: bool
    running: list[Running] = field(default_factory=list)
    #: Jobs it was killed for: past their hard time limit (or an abort not obeyed).
    timed_out: Collection[str] = ()
    #: Seconds between the re-runs of the jobs this crash re-queues, in a random order:
    #: more than a worker's idle poll (``max_poll_seconds``), so an idle worker claims them
    #: one at a time, not together again.
    spacing: float = 0.0


@dataclass
class Released:
    """What became of a dead worker's jobs."""

    crashed: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    timed_out: list[str] = field(default_factory=list)
    #: Slices (``job_id/number``) by what became of them (rocketjob.batch.crashes).
    slices: dict[str, list[str]] = field(default_factory=dict)

    def failed_batches(self) -> list[str]:
        """Batch jobs with a slice failed here (the caller ends those left with none to run)."""
        failed = [*self.slices.get(slice_crashes.TIMED_OUT, []),
                  *self.slices.get(slice_crashes.QUARANTINED, [])]  # fmt: skip
        return list(dict.fromkeys(key.rsplit("/", 1)[0] for key in failed))


def release(store: Store, dead: DeadWorker, max_crashes: int) -> Released:
    """Account for the running jobs of ``dead``; the caller then re-queues the rest of its
    jobs (:func:`rocketjob.requeue.requeue_server_jobs`)."""
    out = Released()
    running = list(dead.running)
    random.shuffle(running)  # who runs first after the crash: the poison job or another
    for entry in running:
        if entry.slice:  # a slice of a batch job
            outcome = slice_crashes.release_slice(store, entry, dead, max_crashes)
            if outcome is not None:
                out.slices.setdefault(outcome, []).append(entry.key)
            continue
        job = _running_job(store, entry.job_id, dead.server_name)
        if job is None:
            continue  # finished, aborted or moved meanwhile; or its class is unknown here
        if entry.job_id in dead.timed_out:
            how = f"its worker process was killed ({dead.how}, server {dead.server_name})"
            if job.fail_released(store, JobTimeout(timeout_message(job, how)), log_callback_error):
                out.timed_out.append(entry.job_id)
                logger.error("job timed out; its worker was killed", job_id=job.id,
                             job_class=job.job_class, server=dead.server_name)  # fmt: skip
        elif dead.crashed:
            _count_crash(store, job, dead, max_crashes, out)
    return out


def _running_job(store: Store, job_id: str, server_name: str) -> Job | None:
    doc = store.get_job(job_id)
    if doc is None or doc["state"] != "running" or doc["server_name"] != server_name:
        return None
    if resolve_class(doc["job_class"]) is None:
        return None  # re-queued by the store's bulk requeue, without callbacks
    job: Job = Job.from_doc(doc)
    return job


def _count_crash(store: Store, job: Job, dead: DeadWorker, max_crashes: int, out: Released) -> None:
    crashes = int(job.crash_count or 0) + 1
    if crashes >= max_crashes:
        exc = WorkerCrashed(
            f"its worker process died ({dead.how}, server {dead.server_name}) while "
            f"running it, {crashes} times ([worker] max_crashes = {max_crashes})"
        )
        if job.fail_released(store, exc, log_callback_error, crash_count=crashes):
            out.quarantined.append(job.id or "")
            logger.error("job failed after repeated worker crashes", job_id=job.id,
                         job_class=job.job_class, crash_count=crashes, how=dead.how)  # fmt: skip
        return
    delay = crash_delay(crashes) + dead.spacing * len(out.crashed)
    run_at = utcnow() + dt.timedelta(seconds=delay)
    if job.requeue_released(store, log_callback_error, crash_count=crashes, run_at=run_at):
        out.crashed.append(job.id or "")
        logger.warning("job re-queued after its worker crashed", job_id=job.id,
                       job_class=job.job_class, crash_count=crashes, how=dead.how)  # fmt: skip


def crash_delay(crashes: int) -> float:
    """Seconds before a job that was running in a crashed process runs again: 0.25 s
    doubling per crash, with jitter (0.5x to 1.5x). Every job that was running in the
    process is blamed alike; without the jitter an innocent job re-queued beside the poison
    one would be claimed beside it again, and share its crashes. Measured with bin/chaos
    --faults: without it, ordinary jobs were quarantined beside the poison ones."""
    return 0.25 * 2.0 ** (crashes - 1) * random.uniform(0.5, 1.5)


def timeout_message(job: Job, how: str) -> str:
    """The message of a job's JobTimeout."""
    limit = job.time_limit
    spelled = f"{limit:g} s" if limit is not None else "none"
    return f"job {job.id} ({job.job_class}) ran past its timeout ({spelled}); {how}"
