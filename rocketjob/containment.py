"""A worker process's side of fault containment (issue 16): recycling and interrupting
aborted jobs. The worker builds one :class:`Containment` and calls it from its loop.

* Recycling (:mod:`rocketjob.recycle`): after each job, count it and check memory; once a
  limit is reached the worker drains and exits with EXIT_RECYCLE.
* ``job.abort()`` of a running job: the job's state in the store is no longer
  ``running``. At each command check (``[worker] max_poll_seconds``) the worker reads the
  states of the jobs its threads run (one query, only when busy) and interrupts each job
  that was aborted (or paused, failed, destroyed) the way a timeout does: JobTimeout in
  its thread now, and its process killed by the supervisor ``timeout_grace`` seconds
  later if it is still running.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rocketjob import runboard, timeouts
from rocketjob.config import WorkerConfig
from rocketjob.log import logger
from rocketjob.recycle import Recycler
from rocketjob.store import JobDoc, JobQuery, Store

#: States a running job is moved to by someone else (``abort()``, ``pause()``, ``fail()``).
INTERRUPTING = ("aborted", "paused", "failed")


class Containment:
    """Recycling and interruption for one worker process."""

    def __init__(self, config: WorkerConfig, run_job: Callable[[JobDoc], None]) -> None:
        self.recycler = Recycler(config.max_jobs, config.max_memory_mb)
        self._run_job = run_job
        self.interrupted: set[str] = set()

    def run_job(self, doc: JobDoc) -> None:
        """What each job thread runs: the job, then the recycling count."""
        self._run_job(doc)
        self.recycler.job_finished()

    def job_runner(self) -> Callable[[JobDoc], None]:
        """The callable the thread pool runs per job (no wrapper without a limit)."""
        return self.run_job if self.recycler.enabled else self._run_job

    @property
    def recycle_reason(self) -> str | None:
        """Why the process should recycle now, or None."""
        return self.recycler.reason

    def interrupt_aborted(self, store: Store, current: dict[str, str],
                          idents: dict[str, int | None]) -> list[str]:  # fmt: skip
        """Interrupt the jobs of ``current`` (thread name -> job id) that are no longer
        running in the store; ``idents``: thread name -> thread id. Returns their ids."""
        if not current:
            return []
        ids = list(current.values())
        # Only jobs moved out of running by someone else: a job that completed meanwhile
        # is gone or completed, never aborted, paused or failed while its thread runs it.
        moved = {doc["id"]: doc["state"] for doc in store.find_jobs(
            JobQuery(ids=ids, states=list(INTERRUPTING), limit=None))}  # fmt: skip
        stopped = []
        for name, job_id in current.items():
            ident = idents.get(name)
            if job_id not in moved or job_id in self.interrupted or ident is None:
                continue
            reason = f"job {job_id} was {moved[job_id]} while running"
            if timeouts.interrupt_thread(ident, job_id, reason):
                self.interrupted.add(job_id)
                stopped.append(job_id)
                _hard_limit(name, job_id, time.monotonic() + runboard.grace())
                logger.info("running job interrupted", job_id=job_id, thread=name)
        return stopped


def _hard_limit(thread_name: str, job_id: str, deadline: float) -> None:
    board = runboard.current()
    if board is not None:
        board.set_deadline(int(thread_name.rsplit(":", 1)[1]) - 1, job_id, deadline)
