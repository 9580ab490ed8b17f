"""A worker process's event loop for coroutine jobs: one thread, ``async_concurrency``
slots, one task per job.

The dispatcher thread claims coroutine jobs for free slots (:meth:`AsyncRunner.claim`)
and hands them to the loop; each runs as a task (:mod:`rocketjob.aio.task`), and its
outcome goes through the lifecycle and the loop's group commit
(:mod:`rocketjob.aio.writer`), which claims the slot's next job in the same
transaction. The loop never waits on the store: every store call of the runner runs on a
thread (a job's own ``aperform_later`` uses the store's async driver on this loop).
Running jobs that were aborted (or otherwise taken away) are cancelled, checked every
``check_seconds``; a loop blocked by a job is reported (:mod:`rocketjob.aio.watchdog`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rocketjob.aio.slots import Slots
from rocketjob.aio.task import JobTask, TaskContext
from rocketjob.aio.watchdog import LoopWatchdog
from rocketjob.aio.writer import AsyncCommitter
from rocketjob.errors import StoreError
from rocketjob.executor import ClaimAhead
from rocketjob.lifecycle import OnError
from rocketjob.log import logger
from rocketjob.stats import JobStats
from rocketjob.store import ClaimLimit, JobDoc, JobQuery, Store


@dataclass(frozen=True)
class LoopSettings:
    """What the runner needs of ``[worker]``."""

    server_name: str
    slots: int
    block_warning: float = 0.1
    check_seconds: float = 2.0


class AsyncRunner:
    """The event loop thread of a worker process and its slots."""

    def __init__(
        self,
        settings: LoopSettings,
        store: Store,
        job_classes: Sequence[str],
        limits: Sequence[ClaimLimit],
        *,
        now: Callable[[], dt.datetime],
        may_claim: Callable[[], bool],
        freed: threading.Event,
        stats: JobStats,
        on_error: OnError,
        after_job: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.job_classes = list(job_classes)
        self.limits = list(limits)
        self._now = now
        self._may_claim = may_claim
        self.slots = Slots(settings.server_name, settings.slots, freed)
        self.loop = asyncio.new_event_loop()
        self.committer = AsyncCommitter(store, self._claim_ahead, self._assign_on_loop)
        self.context = TaskContext(store, self.committer, stats, on_error, self.slots, after_job)
        self.tasks: dict[asyncio.Task[None], JobTask] = {}
        self.watchdog = LoopWatchdog(self.loop, settings.block_warning, self._job_of)
        self._thread = threading.Thread(target=self._serve, name="rocketjob-aio-loop", daemon=True)
        self._stopping = False

    # -- the dispatcher's side -------------------------------------------------------
    def start(self) -> None:
        """Start the loop thread and its watchdog."""
        self._thread.start()
        self.watchdog.start()
        asyncio.run_coroutine_threadsafe(self._check_aborts(), self.loop)

    @property
    def busy(self) -> int:
        """Slots holding a job."""
        return self.slots.busy

    def free_names(self) -> list[str]:
        """Free slots (none while stopping)."""
        return [] if self._stopping else self.slots.free_names()

    def claim(self, free: list[str]) -> int:
        """Claim up to ``len(free)`` coroutine jobs for the free slots (on the calling
        thread: the dispatcher) and start them; returns how many."""
        try:
            docs = self.store.claim_jobs(free, self.job_classes, self._now(), self.limits)
        except StoreError as exc:
            logger.warning("store unavailable; backing off", error=str(exc))
            time.sleep(min(5.0, 0.5 + random.random()))
            return 0
        self.assign(docs)
        return len(docs)

    def assign(self, docs: Sequence[JobDoc]) -> None:
        """Hand claimed jobs to their slots (from any thread)."""
        for doc in docs:
            self.slots.take(doc["worker_name"])
            self.loop.call_soon_threadsafe(self._start, doc)

    def snapshot(self) -> dict[str, str]:
        """Slot name -> job id of each running coroutine job."""
        return self.slots.snapshot()

    def stop_claiming(self) -> None:
        """A drain began: claim nothing more, start nothing more."""
        self._stopping = True

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the running jobs; True when none is left."""
        deadline = time.monotonic() + timeout
        while self.slots.busy:
            if time.monotonic() >= deadline:
                return False
            self.slots.wait_freed(min(0.05, max(0.0, deadline - time.monotonic())))
        return True

    def release(self, timeout: float = 5.0) -> None:
        """Cancel the jobs still running (no outcome is written: the worker re-queues
        them), then stop the loop and its threads."""
        self._stopping = True
        future = asyncio.run_coroutine_threadsafe(self._cancel_all(), self.loop)
        try:
            future.result(timeout)
        except Exception as exc:  # a task that ignores cancellation: the requeue goes on
            logger.error("coroutine jobs not cancelled at stop", error=repr(exc))
        self.watchdog.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        self.committer.close()

    # -- the loop's side ------------------------------------------------------------------
    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:  # as asyncio.run ends: async generators (the per-loop store connections
            # of jobs that enqueue, rocketjob.store.loops), then the default executor
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            self.loop.close()

    def _start(self, doc: JobDoc) -> None:
        name = doc["worker_name"]
        if self._stopping:  # claimed, never started: re-queued by the worker's drain
            self.slots.release(name, None)
            return
        job_task = JobTask(self.context, doc)
        task = self.loop.create_task(job_task.run())
        self.tasks[task] = job_task
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        job_task = self.tasks.pop(task)
        self.slots.release(job_task.slot, job_task.job_id)

    def _assign_on_loop(self, docs: list[JobDoc]) -> None:
        for doc in docs:
            self.slots.take(doc["worker_name"])
            self._start(doc)

    def _claim_ahead(self, names: list[str]) -> ClaimAhead | None:
        if self._stopping or not self._may_claim():
            return None
        return ClaimAhead(names, self.job_classes, self._now(), self.limits)

    def _job_of(self, task: asyncio.Task[Any] | None) -> str | None:
        job_task = self.tasks.get(task) if task is not None else None
        return job_task.job_id if job_task is not None else None

    async def _cancel_all(self) -> None:
        for job_task in self.tasks.values():
            job_task.released = True
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=5.0)

    async def _check_aborts(self) -> None:
        """Cancel running jobs no longer running here (aborted, failed or paused by an
        operator, re-queued by a reaper): one query every ``check_seconds``."""
        while not self._stopping:
            await asyncio.sleep(self.settings.check_seconds)
            performing = {t.job_id: t for t in self.tasks.values() if t.performing}
            if not performing:
                continue
            query = JobQuery(states=["running"], ids=list(performing), limit=None)
            try:
                docs = await asyncio.to_thread(self.store.find_jobs, query)
            except Exception as exc:  # a store error: checked again next time
                logger.warning("could not check running coroutine jobs", error=repr(exc))
                continue
            mine = {d["id"] for d in docs if d["worker_name"] == performing[d["id"]].slot}
            for job_id, job_task in performing.items():
                if job_id not in mine and job_task.performing:
                    job_task.cancel_taken_away()
