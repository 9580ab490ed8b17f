"""The supervisor's fault containment (DESIGN "Fault containment", issue 16).

* Each worker process gets a run board (:mod:`rocketjob.runboard`) before its fork: what
  it runs, each job's hard time limit, and its last words.
* Hard time limits: a worker whose board shows a job past ``timeout + timeout_grace``
  (the soft JobTimeout did not stop it: a blocking C call) is killed; the job is failed
  with JobTimeout and the other jobs are re-queued without penalty.
* Crash accounting: see :mod:`rocketjob.supervisor.crashes`.
* Replacement: a recycled worker, one killed for a time limit, and one stopped by
  ``rocketjob servers stop|kill`` are replaced at once. A worker that crashed while
  running jobs is replaced at once too (the jobs carry the blame through ``crash_count``,
  so a poison job never stalls the queue). A worker that crashed running nothing (a bug
  outside jobs, a broken dependency) is replaced after a back-off that doubles per
  consecutive failure, from 0.5 s up to 30 s, and resets once a worker started since
  the last failure has run ``[supervisor] backoff_reset`` seconds (default 60).
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field

from rocketjob.log import logger
from rocketjob.recycle import EXIT_RECYCLE
from rocketjob.runboard import RunBoard
from rocketjob.supervisor.crashes import DeadWorker

BACKOFF_BASE_SECONDS, BACKOFF_MAX_SECONDS = 0.5, 30.0
#: Exit statuses that are no crash: a clean stop, a job module that does not import (3),
#: the store unreachable at boot (4: both reported on the ready pipe), a recycle.
NOT_CRASHES = (0, 3, 4, EXIT_RECYCLE)


@dataclass
class Tracked:
    """The supervisor's fault state of one worker process."""

    board: RunBoard
    timed_out: set[str] = field(default_factory=set)


class FaultPolicy:
    """Boards, hard time limits, crash classification and back-off for the supervisor."""

    def __init__(self, threads: int, backoff_reset: float, spacing: float = 0.0) -> None:
        #: Seconds between the re-runs of the jobs one crash re-queued (see crashes.py).
        self.spacing = spacing
        self.threads = threads
        self.backoff_reset = backoff_reset
        self.workers: dict[int, Tracked] = {}
        self.failures = 0
        self.last_failure_at = 0.0
        self.recycled = 0

    # -- boards ---------------------------------------------------------------------------
    def new_board(self) -> RunBoard:
        """A board for the next worker (made before the fork, so the child shares it)."""
        return RunBoard(self.threads, recycles=self.recycled)

    def track(self, pid: int, board: RunBoard) -> None:
        """Worker ``pid`` was forked with ``board``."""
        self.workers[pid] = Tracked(board)

    def overdue(self, now: float) -> dict[int, list[str]]:
        """Workers (by pid) running a job past its hard time limit, not yet killed for it:
        the ids of those jobs (``job_id/number`` for a slice of a batch job). They are
        noted as killed for a timeout."""
        found: dict[int, list[str]] = {}
        for pid, tracked in self.workers.items():
            late = [r.key for r in tracked.board.overdue(now) if r.key not in tracked.timed_out]
            if late:
                tracked.timed_out.update(late)
                found[pid] = late
        return found

    # -- a worker ended -----------------------------------------------------------------------
    def dead_worker(self, pid: int, server_name: str, status: int, requested: bool) -> DeadWorker:
        """What ``pid`` left behind: its running jobs, whether it crashed, its last words
        (logged here with its exit status). Its board is released."""
        tracked = self.workers.pop(pid, None)
        how = describe(status)
        if tracked is None:
            return DeadWorker(server_name, how, crashed=False)
        running, words = tracked.board.running(), tracked.board.last_words()
        tracked.board.close()
        code = os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None
        killed_for_time = bool(tracked.timed_out)
        crashed = not requested and not killed_for_time and code not in NOT_CRASHES
        if words or crashed:
            silent = "(none: killed by a signal)" if code is None else "(none written)"
            logger.log("ERROR" if crashed else "INFO", "worker last words", server=server_name,
                       how=how, last_words=words or silent)  # fmt: skip
        return DeadWorker(server_name, how, crashed, running, set(tracked.timed_out),
                          spacing=self.spacing)  # fmt: skip

    def replacement_delay(self, dead: DeadWorker, code: int | None, lived: float | None,
                          now: float) -> float:  # fmt: skip
        """Seconds to wait before replacing a worker that ended on its own (0: at once).
        ``lived``: seconds since it became ready (None: it never did)."""
        if code == EXIT_RECYCLE:
            self.recycled += 1
            return 0.0
        if not dead.crashed or dead.running:
            return 0.0  # stopped remotely, killed for a time limit, or a job took the blame
        if lived is not None and lived >= self.backoff_reset:
            self.failures = 0  # it ran long enough: not part of a crash loop
            return 0.0
        return self.failed_start(now)

    def failed_start(self, now: float) -> float:
        """Count one more consecutive failure; the back-off before the next start."""
        self.failures += 1
        self.last_failure_at = now
        return min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** (self.failures - 1))

    def settle(self, ready_since: list[float], now: float) -> None:
        """Reset the back-off once a worker that became ready after the last failure has
        run ``backoff_reset`` seconds (``ready_since``: when each live worker got ready)."""
        if self.failures and any(
            at >= self.last_failure_at and now - at >= self.backoff_reset for at in ready_since
        ):
            logger.info("workers healthy again; back-off reset", failures=self.failures)
            self.failures = 0


def describe(status: int) -> str:
    """``SIGSEGV`` or ``exit 17``."""
    if os.WIFSIGNALED(status):
        return signal.Signals(os.WTERMSIG(status)).name
    return f"exit {os.waitstatus_to_exitcode(status)}"
