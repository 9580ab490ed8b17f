"""Claim by demand: a worker claims at most as many jobs as it has idle threads (and
coroutine jobs as it has free slots on its event loop: both in one round trip).

Paused or full means it claims nothing (STYLE §4). With nothing to claim it waits for a
wake-up from the store (a new job) or the next poll, doubling the poll delay up to
``max_poll_seconds`` with jitter, so idle workers neither spin nor poll in lockstep.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Protocol

from rocketjob.batch.claims import BatchClaims
from rocketjob.clock import Clock
from rocketjob.errors import StoreError
from rocketjob.executor import ClaimAhead
from rocketjob.log import logger
from rocketjob.store import ClaimLimit, JobDoc, Store
from rocketjob.store.base import ClaimFor
from rocketjob.threads import JobThreads

#: Longest single wait of the dispatcher, so stop requests are seen promptly.
TICK_SECONDS = 0.25
#: First poll delay after a claim found nothing.
FIRST_POLL_SECONDS = 0.05


class Slots(Protocol):
    """The event loop's side of a shared claim (:class:`rocketjob.aio.runner.AsyncRunner`)."""

    job_classes: list[str]

    def assign(self, docs: Sequence[JobDoc]) -> None:
        """Hand claimed coroutine jobs to their slots."""


class Claimer:
    """Claims jobs for the idle threads and hands each to its thread."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        threads: JobThreads,
        job_classes: Sequence[str],
        limits: Sequence[ClaimLimit],
        max_poll_seconds: float,
        batch: BatchClaims,
    ) -> None:
        self.store = store
        self.clock = clock
        self.threads = threads
        self.job_classes = list(job_classes)
        self.limits = list(limits)
        self.max_poll_seconds = max_poll_seconds
        #: The batch job classes: idle threads left after claiming jobs take their slices.
        self.batch = batch

    def claim(
        self, idle: list[str], free: list[str] | None = None, loop: Slots | None = None
    ) -> int:
        """Claim up to one job per idle thread name and, given the event loop's ``free``
        slot names, one coroutine job per free slot in the same round trip
        (``Store.claim_kinds``); return how many were claimed. A store error is logged
        and backed off (0.5 to 1.5 s)."""
        now = self.clock.now()
        coroutines: list[JobDoc] = []
        try:
            if free and loop is not None:
                kinds = [ClaimFor(idle, self.job_classes), ClaimFor(free, loop.job_classes)]
                docs, coroutines = self.store.claim_kinds(kinds, now, self.limits)
                loop.assign(coroutines)
            else:
                docs = self.store.claim_jobs(idle, self.job_classes, now, self.limits)
        except StoreError as exc:
            logger.warning("store unavailable; backing off", error=str(exc))
            self.clock.sleep(min(5.0, 0.5 + random.random()))
            return 0
        self.assign(docs)
        return len(docs) + len(coroutines) + self._slices(idle[len(docs) :])

    def _slices(self, idle: list[str]) -> int:
        """Idle threads left after claiming jobs take slices of batch jobs."""
        if not idle or not self.batch:
            return 0
        slices = self.batch.claim(self.store, idle, self.clock.now())
        self.assign(slices)
        return len(slices)

    def assign(self, docs: list[JobDoc]) -> None:
        """Give each claimed job to the thread named in its worker_name."""
        for doc in docs:
            self.threads.assign(doc)

    def ahead(self, worker_names: list[str]) -> ClaimAhead:
        """A claim for threads about to finish, made with their outcomes."""
        return ClaimAhead(worker_names, self.job_classes, self.clock.now(), self.limits)

    def wait_for_jobs(self, idle_wait: float, interrupted: Callable[[], bool]) -> float:
        """Wait for a wake-up or for the next idle poll, in slices of at most
        TICK_SECONDS while nothing ``interrupted``; return the next poll delay (0 when
        woken: there is work)."""
        delay = idle_wait or FIRST_POLL_SECONDS
        deadline = self.clock.monotonic() + delay
        while not interrupted():
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                break
            slice_end = self.clock.monotonic() + min(remaining, TICK_SECONDS)
            self.store.wait_for_jobs(slice_end - self.clock.monotonic())
            if self.clock.monotonic() < slice_end - 0.0005:  # woken before the slice ended
                return 0.0
        return next_poll_delay(delay, self.max_poll_seconds)


def next_poll_delay(delay: float, max_poll_seconds: float) -> float:
    """Double the idle poll delay up to ``max_poll_seconds``, with ±10% jitter."""
    return min(delay * 2, max_poll_seconds) * (1 + random.uniform(-0.1, 0.1))
