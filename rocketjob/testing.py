"""Helpers for testing code that uses rocketjob: run jobs in the test, on a real store.

::

    from rocketjob import testing

    with testing.temporary_store():         # or the pytest fixture ``rocketjob_store``
        with testing.inline():
            job = ImportJob.perform_later("file.csv")   # has run when this returns
        assert job.completed

        ImportJob.perform_later("other.csv")
        testing.drain()                     # runs it, and every job it enqueues

Both run jobs exactly as a worker does, through the worker's own :class:`Executor` on the
current store: the job is claimed (queued -> running), then ``before_start``, ...,
``perform``, ..., ``after_complete`` run, and the outcome is written; a job that raises
ends ``failed`` with its exception kept (nothing is raised to the caller), and
``retry_limit`` re-queues it. Unlike a worker, the retries run at once: the back-off delay
is ignored, so a test never waits for it. Jobs scheduled for later (``run_at`` in the
future, such as a cron class's next instance) stay queued; ``drain(include_scheduled=True)``
runs them too. ``drain()`` also runs batch jobs' slices. See docs/testing.md.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import os
import socket
import tempfile
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rocketjob import connection, enqueue
from rocketjob.aio.kinds import is_coroutine_job
from rocketjob.aio.local import run_coroutine_job
from rocketjob.batch.claims import BatchClaims
from rocketjob.clock import utcnow
from rocketjob.errors import RocketJobError
from rocketjob.executor import Executor
from rocketjob.job import Job, resolve_class
from rocketjob.log import job_context
from rocketjob.state import JobState
from rocketjob.store import JobDoc, JobQuery, Store

#: Default bound of :func:`drain` (rounds) and :func:`inline` (jobs run per enqueue).
MAX_ROUNDS = 100
#: Runs of one job in a row, retries included, before it is left queued (a job whose
#: ``after_fail`` retries it forever would otherwise never settle).
MAX_ATTEMPTS = 100
#: Slices of one batch job run in a row at most (a bound, like MAX_ATTEMPTS).
_MAX_SLICES = 1_000_000
#: Far enough ahead that every scheduled job is due (``include_scheduled``).
_FAR_FUTURE = dt.timedelta(days=365 * 100)


class DrainLimitReached(RocketJobError):
    """:func:`drain` or :func:`inline` hit its bound with jobs still queued: most likely
    a job that enqueues another each time it runs."""


@contextmanager
def temporary_store() -> Iterator[Store]:
    """A fresh SQLite store in a temporary folder, made the current store for the block;
    the previous store is put back (unclosed) and the folder removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="rocketjob-test-") as folder:
        url = f"sqlite:///{Path(folder) / 'rocketjob.db'}"
        with connection.using(url) as store:
            yield store


def runs_here(cls: type[Job] | None) -> bool:
    """Whether these helpers run jobs of ``cls``: a class this process knows. A
    coroutine job (``async def perform``) is run as a worker's event loop runs it
    (rocketjob.aio.local), never on a job thread."""
    return cls is not None


class LocalRunner:
    """Runs queued jobs in this thread through a worker's Executor on ``store``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.executor = Executor(store, job_context=job_context)
        host = f"{socket.gethostname()}:{os.getpid()}"
        self.server_name = host
        self.worker_name = f"{host}:{threading.current_thread().name}"

    def run_job(self, job_id: str) -> bool:
        """Claim the job (only if it is still queued) and run it, retries at once, until
        it settles. True if it ran at least once."""
        ran = False
        for _ in range(MAX_ATTEMPTS):
            doc = self._claim(job_id)
            if doc is None:
                return ran
            ran = True
            failures = doc["failure_count"]
            if is_coroutine_job(resolve_class(doc["job_class"])):
                run_coroutine_job(self.store, doc, self.executor.count_callback_error)
            else:
                self.executor.run(doc)
            self._run_slices(doc["job_class"])
            after = self.store.get_job(job_id)
            retried = after is not None and after["state"] == "queued"
            if not (retried and after is not None and after["failure_count"] > failures):
                return ran
        return ran

    def _run_slices(self, job_class: str) -> None:
        """A batch job's slices, as a worker's idle threads claim them, until none is
        left (the last one ends the job: after_batch, complete or fail)."""
        claims = BatchClaims([job_class])
        if not claims:
            return
        for _ in range(_MAX_SLICES):
            slices = claims.claim(self.store, [self.worker_name], utcnow())
            if not slices:
                return
            self.executor.run(slices[0])

    def _claim(self, job_id: str) -> JobDoc | None:
        """What a worker's claim does, for this one job: queued -> running, owned here."""
        changes = {
            "state": "running",
            "started_at": utcnow(),
            "worker_name": self.worker_name,
            "server_name": self.server_name,
        }
        return self.store.update_job(job_id, changes, from_states=["queued"])

    def runnable(self, include_scheduled: bool) -> list[JobDoc]:
        """The queued jobs a worker here could run now, in claim order (priority, age):
        due (or any, with ``include_scheduled``) and of a class this process knows."""
        now = utcnow() + (_FAR_FUTURE if include_scheduled else dt.timedelta())
        docs = self.store.find_jobs(JobQuery(states=["queued"], limit=None))
        due = [
            doc
            for doc in docs
            if (doc["run_at"] is None or doc["run_at"] <= now)
            and runs_here(resolve_class(doc["job_class"]))
        ]
        return sorted(due, key=lambda doc: (doc["priority"], doc["id"]))


def drain(*, max_rounds: int = MAX_ROUNDS, include_scheduled: bool = False) -> list[Job]:
    """Run every queued job of the current store in this thread until none is left, and
    return them (each once, in the order first run) in their final state.

    Each round runs, in claim order, the jobs that were queued and due when it began; the
    jobs they enqueue run in the next round. Retries run at once. After ``max_rounds``
    rounds with jobs still queued it raises :class:`DrainLimitReached` naming how many.
    Jobs of classes this process has not imported stay queued, as on a worker without
    them."""
    if type(max_rounds) is not int or max_rounds < 1:
        raise ValueError(f"max_rounds must be a positive integer, got {max_rounds!r}")
    runner = LocalRunner(connection.current_store())
    ran: dict[str, JobDoc] = {}  # id -> its document when it was queued
    for _ in range(max_rounds):
        docs = runner.runnable(include_scheduled)
        if not docs:
            return _final_states(ran)
        for doc in docs:
            if runner.run_job(doc["id"]):
                ran.setdefault(doc["id"], doc)
    left = runner.runnable(include_scheduled)
    if not left:
        return _final_states(ran)
    raise DrainLimitReached(
        f"drain: {len(left)} job(s) still queued after {max_rounds} rounds "
        f"(classes: {', '.join(sorted({doc['job_class'] for doc in left}))}); a job that "
        "enqueues another each time it runs never drains: pass a larger max_rounds, or "
        "stop the chain"
    )


def _final_states(ran: dict[str, JobDoc]) -> list[Job]:
    """The jobs run, as stored now; one destroyed on completion reads as completed (as
    ``job.reload()`` does), from the document it had when queued."""
    store = connection.current_store()
    jobs = []
    for job_id, queued in ran.items():
        doc = store.get_job(job_id)
        if doc is not None:
            jobs.append(Job.from_doc(doc))
            continue
        job = Job.from_doc(queued)
        job.state, job.percent_complete = JobState.COMPLETED, 100
        jobs.append(job)
    return jobs


class _Inline:
    """The state of one ``inline()`` block: the jobs waiting to run, and whether this
    block is already running one (a job that enqueues does not run the new job inside
    its own perform: it runs next, as a worker would take it)."""

    def __init__(self, max_jobs: int) -> None:
        self.max_jobs = max_jobs
        self.pending: deque[Job] = deque()
        self.running = False


_ACTIVE: contextvars.ContextVar[_Inline | None] = contextvars.ContextVar(
    "rocketjob_inline", default=None
)
_hook_lock = threading.Lock()
_hook_users = 0


@contextmanager
def inline(*, max_jobs: int = MAX_ROUNDS) -> Iterator[None]:
    """Within the block (in this thread or task), every ``perform_later``,
    ``perform_all_later`` and ``create`` runs its jobs at once, in the caller, through a
    worker's Executor on the current store, and returns them in their final state
    (completed with ``result`` when ``collect_output``, or failed with ``exception``;
    never raising the job's error). Jobs enqueued by a running job run right after it,
    before the outermost call returns; more than ``max_jobs`` of them raises
    :class:`DrainLimitReached`. Jobs scheduled for later stay queued (see module doc)."""
    global _hook_users
    with _hook_lock:
        _hook_users += 1
        if _hook_users == 1:
            enqueue.AFTER_ENQUEUE.append(_run_inline)
    token = _ACTIVE.set(_Inline(max_jobs))
    try:
        yield
    finally:
        _ACTIVE.reset(token)
        with _hook_lock:
            _hook_users -= 1
            if _hook_users == 0:
                enqueue.AFTER_ENQUEUE.remove(_run_inline)


def _run_inline(jobs: Sequence[enqueue.NewJob]) -> None:
    """The enqueue hook: run ``jobs`` now when this context is inline."""
    state = _ACTIVE.get()
    if state is None:
        return
    state.pending.extend(job for job in jobs if isinstance(job, Job))
    if state.running:
        return  # a job enqueued by a running job: the outer call runs it next
    state.running = True
    try:
        _run_pending(state)
    finally:
        state.running = False


def _run_pending(state: _Inline) -> None:
    runner = LocalRunner(connection.current_store())
    count = 0
    while state.pending:
        job = state.pending.popleft()
        if count == state.max_jobs:
            left = len(state.pending) + 1
            state.pending.clear()
            raise DrainLimitReached(
                f"inline: {left} job(s) still queued after running {count} (the limit); a "
                "job that enqueues another each time it runs never settles: pass a larger "
                "max_jobs to inline(), or stop the chain"
            )
        count += 1
        due = job.run_at is None or job.run_at <= utcnow()
        # Not run: scheduled for later, or not visible here (enqueued in a caller's own
        # PostgreSQL transaction, ``connection=``): left as returned.
        if job.id is not None and due and runs_here(type(job)) and runner.run_job(job.id):
            job.reload()
