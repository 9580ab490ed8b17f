"""One coroutine job run as an asyncio task, from claim to stored outcome.

The same steps as a thread job (:class:`rocketjob.executor.Executor`): a corrupt job is
failed, an expired one deleted, one outside its processing window re-scheduled;
otherwise the start callbacks, ``perform`` within its time limit (``asyncio.timeout``;
at the limit the task is cancelled and the job fails with rocketjob.JobTimeout), the
outcome built by the lifecycle and written by the loop's group commit, then the
``after_*`` callbacks and behaviours.

Cancelled for another reason, the task writes nothing: aborted by an operator (the job
is no longer ours), or released at a stop (the worker re-queues it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rocketjob import runboard
from rocketjob.aio.callbacks import aoutcome_written, arun_perform, arun_start, aworker_outcome
from rocketjob.aio.slots import Slots
from rocketjob.aio.writer import AsyncCommitter
from rocketjob.clock import utcnow
from rocketjob.errors import CorruptJob, JobTimeout, StoreError
from rocketjob.executor import RUN_OBSERVERS, observe_run
from rocketjob.job import HOOKS, Job
from rocketjob.lifecycle import OnError
from rocketjob.log import job_context, logger
from rocketjob.plugins.hooks import after_event
from rocketjob.stats import JobStats
from rocketjob.store import Finish, JobDoc, Store

#: How long a task keeps retrying to write an outcome while the store is down.
WRITE_RETRY_SECONDS = 60.0


@dataclass
class TaskContext:
    """What every task of one loop shares."""

    store: Store
    committer: AsyncCommitter
    stats: JobStats
    on_error: OnError
    slots: Slots
    #: Called after each job that ran (the recycling count), if set.
    after_job: Callable[[], None] | None = None


def time_limit(job: Job) -> float | None:
    """Seconds the job may run: its own ``set(timeout=...)`` or its class's ``timeout``."""
    own = getattr(job, "time_limit", None)  # rocketjob.timeouts, where present
    if own is not None:
        return float(own)
    limit = getattr(type(job), "timeout", None)
    return float(limit) if isinstance(limit, int | float) else None


class JobTask:
    """Runs the claimed job ``doc`` on slot ``doc["worker_name"]``."""

    def __init__(self, context: TaskContext, doc: JobDoc) -> None:
        self.context = context
        self.doc = doc
        self.slot: str = doc["worker_name"]
        self.job_id: str = doc["id"]
        self.performing = False
        self.released = False  # cancelled at a stop: re-queued by the worker
        self.taken_away = False  # cancelled because it is no longer ours (aborted)
        self._task: asyncio.Task[Any] | None = None
        self._board = -1  # its slot on the run board while it runs

    def cancel_taken_away(self) -> None:
        """Cancel a job that is no longer running here (aborted by an operator), once:
        its hard limit is not moved by later checks."""
        if self.taken_away:
            return
        self.taken_away = True
        if self._task is not None:
            self._task.cancel()
        board = runboard.current()
        if board is not None and self._board >= 0:  # not gone within the grace: killed
            board.set_deadline(self._board, self.job_id, time.monotonic() + runboard.grace())

    async def run(self) -> None:
        """Run the job to its stored outcome. Never raises (but CancelledError)."""
        self._task = asyncio.current_task()
        job = Job.from_doc(self.doc)
        observed = observe_run(job) if RUN_OBSERVERS else None  # tracing (rocketjob.otel)
        outcome = "error"
        with job_context(job):  # its fields on every record, and its log_level, in this task
            try:
                outcome = await self._run(job)
            except asyncio.CancelledError:
                outcome = "cancelled"
                if not (self.released or self.taken_away):
                    raise
                why = "stop" if self.released else "no longer running here"
                logger.info("coroutine job cancelled", job_id=job.id, reason=why)
            except Exception as exc:  # the runner itself broke: logged, the slot freed
                logger.opt(exception=exc).error("coroutine job runner failed", job_id=job.id)
            finally:
                if observed is not None:
                    observed(outcome)

    async def _run(self, job: Job) -> str:
        """Run ``job``; returns its outcome: completed, failed, expired or rescheduled."""
        if job.corruption is not None:
            await self._fail(job, CorruptJob(job.id or "", *job.corruption))
            return "failed"
        if job.expired:
            await self._outcome(job, "expire")
            return "expired"
        opening = job.deferred_until(utcnow())
        if opening is not None:
            await self._outcome(job, "reschedule", run_at=opening)
            return "rescheduled"
        self.context.slots.started(self.slot, self.job_id)
        started = time.monotonic()
        self.context.stats.job_started(_pickup_seconds(job))
        # On the supervisor's run board while it runs (crash accounting, the hard time
        # limit); off it before the outcome is written, so a next job claimed ahead for
        # this slot, started meanwhile, is never cleared from it.
        self._board = runboard.job_started(self.slot, self.job_id, started, time_limit(job))
        try:
            finish = await self._attempt(job)
        finally:
            runboard.job_ended(self._board)
            self._board = -1
            if self.context.after_job is not None:
                self.context.after_job()
        if isinstance(finish, Exception):  # the job's own error: kept on the job
            self.context.stats.job_finished(False, time.monotonic() - started)
            await self._fail(job, finish)
            return "failed"
        self.context.stats.job_finished(True, time.monotonic() - started)
        if await self._write(finish, job):
            on_error, free = self.context.on_error, store_free(job, "complete")
            await aoutcome_written(job, "complete", finish, utcnow(), on_error, free)
        return "completed"

    async def _attempt(self, job: Job) -> Finish | Exception:
        """The start callbacks, perform, before_complete: the complete outcome to write,
        or the job's own error."""
        try:
            self.performing = True
            await arun_start(job)
            result = await self._perform(job)
            self.performing = False
            return await aworker_outcome(job, "complete", self.slot, utcnow(), result=result)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the job's own error: kept on the job, not raised
            return exc
        finally:
            self.performing = False

    async def _perform(self, job: Job) -> object:
        limit = time_limit(job)
        if limit is None:
            return await arun_perform(job)
        timer = asyncio.timeout(limit)
        try:
            async with timer:
                return await arun_perform(job)
        except TimeoutError:
            if not timer.expired():
                raise  # the job's own TimeoutError
            raise JobTimeout(
                f"job {job.id} ({job.job_class}) ran past its timeout of {limit:g} s"
            ) from None

    async def _fail(self, job: Job, exc: BaseException) -> None:
        on_error = self.context.on_error
        finish = await aworker_outcome(job, "fail", self.slot, utcnow(), on_error, exc=exc)
        if await self._write(finish, job):
            logger.opt(exception=exc).error(
                "job failed", job_id=job.id, job_class=job.job_class, error=type(exc).__name__
            )
            await aoutcome_written(job, "fail", finish, utcnow(), on_error)

    async def _outcome(self, job: Job, event: str, **values: Any) -> None:
        on_error = self.context.on_error
        finish = await aworker_outcome(job, event, self.slot, utcnow(), on_error, **values)
        if await self._write(finish, job):
            await aoutcome_written(job, event, finish, utcnow(), on_error)

    async def _write(self, finish: Finish, job: Job) -> bool:
        """Write an outcome through the group commit, retrying while the store is
        unreachable (bounded)."""
        deadline = time.monotonic() + WRITE_RETRY_SECONDS
        delay = 0.05
        while True:
            try:
                written = await self.context.committer.commit(finish)
            except StoreError as exc:
                if time.monotonic() > deadline or self.released:
                    logger.error("job outcome not written", job_id=job.id, error=str(exc))
                    return False
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            if not written:
                logger.info("job no longer ours; outcome dropped", job_id=job.id)
            return written


def _pickup_seconds(job: Job) -> float:
    started, runnable, run_at = job.started_at, job.created_at, job.run_at
    if started is None or runnable is None:
        return 0.0
    if run_at is not None and run_at > runnable:
        runnable = run_at
    return (started - runnable).total_seconds()


def store_free(job: Job, event: str) -> bool:
    """Whether the behaviours after ``event`` make no store call, so they may run on
    the loop: a completion of a class without ``cron_schedule`` while the built-in
    behaviours are the only ones registered (rocketjob.plugins.hooks schedules the next
    cron instance, nothing else, after a completion). The common case then skips a
    thread round trip per job (``bin/bench --async``, one SQLite run each on a loaded
    machine: 0.22 -> 0.17 CPU s per 1,000 jobs)."""
    return event == "complete" and not job.cron_schedule and HOOKS.after_event == [after_event]
