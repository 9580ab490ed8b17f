"""Running one claimed job on a worker thread, and writing its outcome.

The claim already moved the job to running (the ``start`` event happened in the store),
so a thread runs: ``before_start``, ``after_start``, ``before_perform``, ``perform``
(inside ``around_perform``), ``after_perform``, ``before_complete``, the write, then
``after_complete``. A failure anywhere before the write fails the job with its exception.

Outcomes go through a :class:`GroupCommitter`: threads that finish at about the same time
share one store transaction, and each thread returns only once its outcome is durable, so
the ``after_*`` callbacks still see a stored state.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from rocketjob import runboard, timeouts
from rocketjob.aio.kinds import NotAwaitedError, is_coroutine_job, refuse_awaitable
from rocketjob.batch.runner import SliceRunner
from rocketjob.clock import utcnow
from rocketjob.errors import CorruptJob, StoreError
from rocketjob.group_commit import GroupCommit, Slot
from rocketjob.job import Job
from rocketjob.lifecycle import Lifecycle
from rocketjob.log import logger
from rocketjob.stats import JobStats
from rocketjob.store import Finish, JobDoc, Store
from rocketjob.store.base import ClaimLimit

#: Observers of every run (``rocketjob.otel.instrument()`` adds a span): each is called
#: with the job before it runs and returns the function to call with the run's outcome
#: (completed, failed, expired, rescheduled, or error if the executor itself broke).
RUN_OBSERVERS: list[Callable[[Job], Callable[[str], None]]] = []

#: How long a thread keeps retrying to write an outcome while the store is down.
WRITE_RETRY_SECONDS = 60.0
#: How long the thread leading a batch waits for the worker's other busy threads to bring
#: their outcomes (it stops waiting as soon as all of them are in), while a typical job
#: runs shorter than this: short jobs then share a transaction about twice as often
#: (``bin/bench`` 2 x 10 threads: 5.4 -> 9.2 outcomes per transaction, drain +60-90%,
#: docs/performance.md), and longer jobs, whose commit costs little beside them, are
#: written at once.
LINGER_SECONDS = 0.001
_ON_A_THREAD = "{} is a coroutine job (async def perform): it runs on an event loop, not a thread"


@dataclass(frozen=True)
class ClaimAhead:
    """What a claim made together with outcomes needs (see GroupCommitter)."""

    worker_names: list[str]
    job_classes: Sequence[str]
    now: dt.datetime
    limits: Sequence[ClaimLimit] = ()


class GroupCommitter:
    """Coalesces concurrent ``finish_jobs`` calls into one transaction (the mechanism is
    :class:`rocketjob.group_commit.GroupCommit`, shared with the SQLite enqueues).

    The first thread to arrive leads: it waits up to ``linger`` seconds for the other
    threads that hold a job (``busy()`` of them in all) to arrive, then writes everything
    pending; threads arriving while a batch is written wait and are written together by
    the next leader. A lone job is written at once, and so is every job while a typical
    job (``observe``) runs ``linger`` seconds or longer. When ``claim_ahead`` allows it,
    the same transaction claims the next job for each thread whose outcome it writes
    (``Store.finish_and_claim``; handed over by ``on_claimed`` before the threads are
    released), so a busy worker pays one commit per batch, not two.
    """

    def __init__(
        self,
        store: Store,
        claim_ahead: Callable[[list[str]], ClaimAhead | None] | None = None,
        on_claimed: Callable[[list[JobDoc]], None] | None = None,
        busy: Callable[[], int] | None = None,
        linger: float = LINGER_SECONDS,
    ) -> None:
        self._store = store
        self._busy = busy
        self._linger = linger if busy is not None else 0.0
        self._typical_run = 0.0  # moving average of the jobs' run time, in seconds
        self._claim_ahead = claim_ahead if on_claimed is not None else None
        self._on_claimed = on_claimed
        # A store whose transactions can run side by side may allow more than one batch
        # in flight (``concurrent_writers``), so one batch's commit round trip does not
        # idle the threads that finish meanwhile. Every store here says 1: bigger batches
        # cost less per job than a second round trip saves (docs/performance.md).
        self._group: GroupCommit[Finish] = GroupCommit(
            self._write,
            all_in=self._all_in if busy is not None else None,
            linger=self._linger,
            max_writers=store.concurrent_writers,
        )

    def commit(self, item: Finish) -> bool:
        """Write ``item``; True if it was applied (the job was still ours)."""
        return self._group.submit(item)

    def observe(self, run_seconds: float) -> None:
        """Note how long a job ran (a moving average; a lost update under a race is
        harmless)."""
        self._typical_run += (run_seconds - self._typical_run) * 0.05

    def _all_in(self, pending: int) -> bool:
        """With the group's lock held: every thread holding a job has brought its outcome
        (or jobs run so long that waiting for the others would not pay)."""
        assert self._busy is not None  # only asked when there is a busy count
        return self._typical_run >= self._linger or pending >= self._busy()

    def _write(self, batch: list[Slot[Finish]]) -> None:
        items = [slot.item for slot in batch]
        request = (
            self._claim_ahead([item.worker_name for item in items]) if self._claim_ahead else None
        )
        if request is None:
            written = set(self._store.finish_jobs(items))
        else:
            done, docs = self._store.finish_and_claim(
                items, request.worker_names, request.job_classes, request.now, request.limits
            )
            if docs and self._on_claimed is not None:
                self._on_claimed(docs)
            written = set(done)
        for slot in batch:
            slot.written = slot.item.job_id in written


class Executor:
    """Runs claimed jobs: callbacks, perform, outcome. Shared by a worker's threads."""

    def __init__(
        self,
        store: Store,
        job_context: Callable[[Job], AbstractContextManager[Any]] | None = None,
        is_stopping: Callable[[], bool] = lambda: False,
        claim_ahead: Callable[[list[str]], ClaimAhead | None] | None = None,
        on_claimed: Callable[[list[JobDoc]], None] | None = None,
        busy: Callable[[], int] | None = None,
    ) -> None:
        self.store = store
        self.committer = GroupCommitter(store, claim_ahead, on_claimed, busy)
        self.job_context = job_context or (lambda job: nullcontext())
        self.is_stopping = is_stopping
        self.claim_ahead = claim_ahead
        self.callback_errors = 0
        self.stats = JobStats()

    def run(self, doc: JobDoc) -> None:
        """Run the claimed job ``doc`` to its outcome. Never raises. Every outcome is
        built and followed up by the job's lifecycle; only the write is the executor's
        (through the group commit)."""
        if "records" in doc:  # a slice of a batch job (rocketjob.batch.runner)
            self._slice_runner().run(doc)
            return
        job = Job.from_doc(doc)
        if not RUN_OBSERVERS:
            self._run(job, doc["worker_name"])
            return
        observed = observe_run(job)
        outcome = "error"
        try:
            outcome = self._run(job, doc["worker_name"])
        finally:
            observed(outcome)

    def _slice_runner(self) -> SliceRunner:
        runner: SliceRunner | None = self.__dict__.get("_slices")
        if runner is None:
            runner = self.__dict__["_slices"] = SliceRunner(
                self.store, self.count_callback_error, self.job_context, self._may_claim
            )
        return runner

    def _may_claim(self) -> bool:
        """Whether a thread may claim its next slice (not paused, not stopping)."""
        ahead = self.claim_ahead
        return not self.is_stopping() and (ahead is None or ahead([]) is not None)

    def _run(self, job: Job, worker: str) -> str:
        """Run ``job``; returns its outcome: completed, failed, expired or rescheduled."""
        if job.corruption is not None:  # its stored document does not decode: never run
            self._fail(job, worker, CorruptJob(job.id, *job.corruption))
            return "failed"
        if is_coroutine_job(type(job)):  # never on a thread: it would not be awaited
            self._fail(job, worker, NotAwaitedError(_ON_A_THREAD.format(job.job_class)))
            return "failed"
        if job.expired:
            self._outcome(job, "expire", worker)
            logger.info("job expired", job_id=job.id, job_class=job.job_class)
            return "expired"
        if self._outside_window(job, worker):
            return "rescheduled"
        started = time.monotonic()
        self.stats.job_started(_pickup_seconds(job))
        limit = job.time_limit
        slot = runboard.job_started(worker, job.id or "", started, limit)
        try:
            return self._perform(job, worker, started, limit)
        finally:
            runboard.job_ended(slot)

    def _perform(self, job: Job, worker: str, started: float, limit: float | None) -> str:
        """Run ``perform`` (within its time limit) and write the outcome."""
        reason = "" if limit is None else timeout_reason(job, limit)
        with self.job_context(job):
            try:
                job.run_start()
                with timeouts.limit(limit, reason, job.id or ""):
                    result = refuse_awaitable(job, job.run_perform())
                finish = job.worker_outcome("complete", worker, utcnow(), result=result)
            except BaseException as exc:  # the job's own error: kept on the job, not raised
                self._ran(started, ok=False)
                self._fail(job, worker, exc)
                return "failed"
            self._ran(started, ok=True)
            if self._write(finish, job):
                job.outcome_written("complete", finish, utcnow(), self.count_callback_error)
                logger.debug(
                    "job completed",
                    job_id=job.id,
                    duration_ms=round((time.monotonic() - started) * 1000, 3),
                )
        return "completed"

    def _ran(self, started: float, ok: bool) -> None:
        """Count a job that ran since ``started`` (stats, and the committer's linger)."""
        ran = time.monotonic() - started
        self.stats.job_finished(ok, ran)
        self.committer.observe(ran)

    def _fail(self, job: Job, worker: str, exc: BaseException) -> None:
        """The fail event: the job keeps ``exc``; retry and cron follow (behaviours)."""
        finish = job.worker_outcome("fail", worker, utcnow(), self.count_callback_error, exc=exc)
        if self._write(finish, job):
            logger.opt(exception=exc).error(
                "job failed", job_id=job.id, job_class=job.job_class, error=type(exc).__name__
            )
            job.outcome_written("fail", finish, utcnow(), self.count_callback_error)

    def _outside_window(self, job: Job, worker: str) -> bool:
        """Re-schedule a job claimed outside its processing window (not run, not
        failed): back to queued with run_at at the next opening. True if it was."""
        opening = job.deferred_until(utcnow())
        if opening is None:
            return False
        self._outcome(job, "reschedule", worker, run_at=opening)
        logger.info("job outside its processing window; re-scheduled", job_id=job.id,
                    run_at=opening.isoformat())  # fmt: skip
        return True

    def _outcome(
        self, job: Job, event: str, worker: str, run_at: dt.datetime | None = None
    ) -> None:
        """An outcome without a run (expire, reschedule): built, written, followed up."""
        finish = job.worker_outcome(event, worker, utcnow(), self.count_callback_error,
                                    run_at=run_at)  # fmt: skip
        if self._write(finish, job):
            job.outcome_written(event, finish, utcnow(), self.count_callback_error)

    def _write(self, finish: Finish, job: Job) -> bool:
        """Write an outcome, retrying while the store is unreachable (bounded)."""
        deadline = time.monotonic() + WRITE_RETRY_SECONDS
        delay = 0.05
        while True:
            try:
                written = self.committer.commit(finish)
            except StoreError as exc:
                if time.monotonic() > deadline or self.is_stopping():
                    logger.error("job outcome not written", job_id=job.id, error=str(exc))
                    return False
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            except Exception as exc:  # store closed under us (shutdown): the job stays running
                logger.error("job outcome not written", job_id=job.id, error=repr(exc))
                return False
            if not written:
                logger.info("job no longer ours; outcome dropped", job_id=job.id)
            return written

    def count_callback_error(self, job: Lifecycle, name: str, exc: Exception) -> None:
        """Count and log an error of a callback or behaviour that ran after a write."""
        self.callback_errors += 1
        logger.error("job callback failed", job_id=job.id, callback=name, error=repr(exc))


def observe_run(job: Job) -> Callable[[str], None]:
    """Tell every run observer that ``job`` starts; returns the call that tells them its
    outcome. An observer's own error is logged, never raised into the run."""
    ends: list[Callable[[str], None]] = []
    for observer in RUN_OBSERVERS:
        try:
            ends.append(observer(job))
        except Exception as exc:  # an observer (tracing) must never stop a job
            logger.error("run observer failed", job_id=job.id, error=repr(exc))

    def finished(outcome: str) -> None:
        for end in reversed(ends):
            try:
                end(outcome)
            except Exception as exc:  # as above
                logger.error("run observer failed", job_id=job.id, error=repr(exc))

    return finished


def timeout_reason(job: Job, limit: float) -> str:
    """The message of the JobTimeout raised in ``job`` at its limit."""
    return f"job {job.id} ({job.job_class}) ran past its timeout of {limit:g} s"


def _pickup_seconds(job: Job) -> float:
    """Seconds from when the job became runnable (created, or its run_at) to its start."""
    started, runnable, run_at = job.started_at, job.created_at, job.run_at
    if started is None or runnable is None:
        return 0.0
    if run_at is not None and run_at > runnable:
        runnable = run_at
    return (started - runnable).total_seconds()
