"""The worker process: built whole by :meth:`Worker.boot`, then run until drained.

``Worker.boot(config, store_url=...)`` imports the job modules, opens the worker's own
store, makes it this process's default store (so job code that enqueues, reloads or
writes through the Job API uses it too), starts the job threads, registers the server
document and schedules the cron classes; it returns a fully built :class:`Worker`.
``run()`` is the dispatcher loop (claim by demand, heartbeats and remote commands) until
a stop is requested; it then drains and returns the exit code.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import traceback
from typing import Any, Protocol

import psutil

from rocketjob import connection, runboard, sizes
from rocketjob.aio.glue import build_runner, loop_figures
from rocketjob.aio.kinds import thread_job_classes
from rocketjob.batch.claims import BatchClaims
from rocketjob.clock import SYSTEM_CLOCK, Clock
from rocketjob.config import Config
from rocketjob.containment import Containment
from rocketjob.control import ExitCode, ServerCommand
from rocketjob.errors import StoreError
from rocketjob.executor import ClaimAhead, Executor
from rocketjob.log import job_context, logger
from rocketjob.plugins import cron, throttle
from rocketjob.plugins.dirmon_confine import configure_roots as configure_dirmon_roots
from rocketjob.recycle import EXIT_RECYCLE
from rocketjob.requeue import requeue_adopted
from rocketjob.store import Store, open_store
from rocketjob.threads import JobThreads
from rocketjob.worker.claiming import TICK_SECONDS, Claimer
from rocketjob.worker.classes import import_job_modules, select_job_classes
from rocketjob.worker.commands import Controls, Request
from rocketjob.worker.drain import drain
from rocketjob.worker.heartbeat import Heartbeat

#: How often the process title is refreshed, in seconds.
TITLE_SECONDS = 0.5


def server_name() -> str:
    """This process's server name, ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LogControl(Protocol):
    """The part of a logging handle a worker uses: reopen files, count drops."""

    def reopen(self) -> None:
        """Reopen log files."""

    def drops(self) -> Any:
        """Records dropped so far."""


class Worker:
    """One worker process: a thread pool fed by a dispatcher loop.

    Build it with :meth:`boot`; the constructor takes the already opened store and the
    selected job classes, and builds every part (no attribute is filled in later).
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        job_classes: list[str],
        *,
        clock: Clock = SYSTEM_CLOCK,
        number: int = 1,
        log_handle: LogControl | None = None,
        parent_pid: int | None = None,
        controls: Controls | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.job_classes = job_classes
        self.clock = clock
        self.number = number
        self.log_handle = log_handle
        #: The supervisor's pid: when it changes (the supervisor died) the worker drains.
        self.parent_pid = parent_pid
        self.server_name = server_name()
        #: Its requests and state (paused, stopping): given when signal handlers were
        #: installed before the boot, so nothing sent meanwhile is lost.
        self.controls = controls or Controls(self.server_name)
        self.executor = Executor(
            store,
            job_context=job_context,
            is_stopping=lambda: self.controls.stop_now,
            claim_ahead=self._claim_ahead,
            on_claimed=lambda docs: self.claimer.assign(docs),
            busy=lambda: self.threads.busy,
        )
        #: Time limits, aborts of running jobs and recycling (rocketjob.containment).
        self.containment = Containment(config.worker, self.executor.run)
        self.threads = JobThreads(
            self.server_name, config.worker.threads, self.containment.job_runner()
        )
        limits = throttle.claim_limits(job_classes)
        self.batch = BatchClaims(job_classes)
        self.claimer = Claimer(  # thread jobs only: never a coroutine job (rocketjob.aio)
            store, clock, self.threads, thread_job_classes(job_classes), limits,
            config.worker.max_poll_seconds, self.batch,
        )  # fmt: skip
        #: The event loop of coroutine jobs (None when the worker runs none).
        recycler = self.containment.recycler  # coroutine jobs count towards max_jobs too
        self.aio = build_runner(
            config.worker, self.server_name, store, job_classes, limits, now=clock.now,
            freed=self.threads.freed, stats=self.executor.stats,
            may_claim=lambda: not (
                self.controls.paused or self.controls.stopping or recycler.reason
            ),
            on_error=self.executor.count_callback_error,
            after_job=recycler.job_finished if recycler.enabled else None,
        )  # fmt: skip
        self.heartbeat = Heartbeat(
            store, clock, config.worker, self.server_name, self._info,
            on_reaped=self._after_reap,
            figures_every_beat=self.aio is not None,  # busy slots live in info
        )  # fmt: skip
        #: Jobs taken over from a reaped zombie may still wait for their requeue (a store
        #: error stopped it): retried at the next reap.
        self._adopted_left = False
        self._process = psutil.Process()
        self._next_title = 0.0
        self._next_contain = 0.0
        #: OK, or RECYCLE once the process recycles itself (rocketjob.recycle).
        self.exit_code: int = ExitCode.OK

    @classmethod
    def boot(
        cls,
        config: Config,
        *,
        store_url: str | None = None,
        store: Store | None = None,
        clock: Clock = SYSTEM_CLOCK,
        number: int = 1,
        log_handle: LogControl | None = None,
        parent_pid: int | None = None,
        controls: Controls | None = None,
    ) -> Worker:
        """Import the job modules (JobImportError), open the store at ``store_url``
        (default: ``config.store.url``, then ROCKETJOB_STORE, then the default;
        StoreUnavailable) unless an open ``store`` is given, make it this process's
        default store, start the threads, register the server and schedule the cron
        classes. The other arguments are the constructor's. A store it opens stays open
        for the life of the process (a worker process ends with ``os._exit``); in-process
        callers (tests, benchmarks) pass ``store=`` and keep owning it."""
        import_job_modules(config.worker.imports)
        configure_dirmon_roots(config.dirmon.roots)
        sizes.configure(config.store.max_job_bytes)
        job_classes = select_job_classes(config.worker.include, config.worker.exclude)
        if store is None:
            store = open_store(store_url or config.store.url or connection.default_url())
        connection.use_store(store)  # job code in this process writes where the worker does
        worker = cls(
            config, store, job_classes, clock=clock, number=number, log_handle=log_handle,
            parent_pid=parent_pid, controls=controls,
        )  # fmt: skip
        worker.heartbeat.register()
        cron.ensure_scheduled(job_classes, worker.clock.now())  # one instance per cron class
        logger.info(
            "worker started",
            server=worker.server_name,
            threads=config.worker.threads,
            job_classes=len(job_classes),
        )
        return worker

    # -- requests ---------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        """True while claiming is paused."""
        return self.controls.paused

    def request(self, what: Request) -> None:
        """Queue a request (thread- and signal-safe: only appends)."""
        self.controls.request(what)

    # -- the dispatcher loop --------------------------------------------------------------
    def run(self) -> int:
        """The dispatcher loop; returns the process exit code after draining."""
        idle_wait = 0.0
        while self.controls.stopping is None:
            idle_wait = self.tick(idle_wait)
        drain(
            store=self.store, threads=self.threads, controls=self.controls, clock=self.clock,
            drain_timeout=self.config.supervisor.drain_timeout, serve=self.serve,
            on_callback_error=self.executor.count_callback_error, aio=self.aio,
        )  # fmt: skip
        return self.exit_code

    def tick(self, idle_wait: float) -> float:
        """One turn: serve requests and periodic work, then claim for the idle threads
        or wait; returns the next idle poll delay."""
        self.serve()
        if self.controls.stopping is not None:
            return idle_wait
        if self.controls.paused:
            self.clock.sleep(TICK_SECONDS)
            return idle_wait
        idle = self.threads.idle_names() if self.claimer.job_classes or self.batch else []
        free = self.aio.free_names() if self.aio is not None else []
        if not idle and not free:
            self.threads.freed.wait(TICK_SECONDS)
            self.threads.freed.clear()
            return idle_wait
        if idle and free:  # threads and slots: one claim round trip for both kinds
            claimed = self.claimer.claim(idle, free, self.aio)
        else:
            claimed = self.claimer.claim(idle) if idle else 0
            if free and self.aio is not None:
                claimed += self.aio.claim(free)
        if claimed:
            return 0.0
        return self.claimer.wait_for_jobs(idle_wait, self._interrupted)

    def serve(self) -> None:
        """Apply queued requests, then the periodic work: watch the supervisor, heartbeat
        and take commands, refresh the process title."""
        self._recycle()
        self.controls.apply(self)
        if self.parent_pid is not None and os.getppid() != self.parent_pid:
            logger.warning("supervisor gone; draining", server=self.server_name)
            self.parent_pid = None
            self.controls.stopping = self.controls.stopping or ServerCommand.STOP
        self.controls.take(self.heartbeat.tick(self.controls.state, self.threads.busy))
        self.controls.apply(self)
        self.controls.take(self.heartbeat.tick(self.controls.state, self.threads.busy))
        now = self.clock.monotonic()
        if now >= self._next_contain:  # with each command check
            self._next_contain = now + self.config.worker.max_poll_seconds
            self._contain()
        if now >= self._next_title:
            self._next_title = now + TITLE_SECONDS
            self._set_title()

    def _interrupted(self) -> bool:
        return self.controls.stopping is not None or bool(self.controls.requests)

    def _claim_ahead(self, worker_names: list[str]) -> ClaimAhead | None:
        """Called as job threads' outcomes are written: claim their next jobs in the same
        transaction, unless paused or stopping."""
        if self.controls.paused or self.controls.stopping is not None:
            return None
        if self.containment.recycle_reason:
            return None
        return self.claimer.ahead(worker_names)

    def _recycle(self) -> None:
        """Drain and exit with RECYCLE once a recycling limit was reached."""
        reason = self.containment.recycle_reason
        if reason is not None and self.controls.stopping is None:
            logger.info("worker recycling", server=self.server_name, reason=reason)
            self.exit_code = EXIT_RECYCLE
            self.controls.stopping = ServerCommand.STOP

    def _contain(self) -> None:
        """Interrupt running jobs that were aborted."""
        try:
            self.containment.interrupt_aborted(
                self.store, self.threads.snapshot(), self.threads.idents()
            )
        except StoreError as exc:
            logger.warning("could not check running jobs", error=str(exc))

    def _after_reap(self, reaped: list[str]) -> None:
        """After a zombie reap: re-queue the batch slices of the servers reaped (and of
        any server gone unnoticed), then the jobs taken over from them, each through its
        lifecycle (rocketjob.requeue.requeue_adopted). A store error there is raised to
        the heartbeat, which logs it; the jobs left are retried at the next reap."""
        for name in reaped:
            self.batch.release(self.store, name)
        self.batch.release_orphans(self.store)
        if reaped or self._adopted_left:
            self._adopted_left = True
            requeue_adopted(self.store, self.server_name, self.executor.count_callback_error)
            self._adopted_left = False

    # -- figures, title, logs ---------------------------------------------------------------
    def _info(self) -> dict[str, Any]:
        """The figures of a full heartbeat."""
        with self._process.oneshot():
            return {
                "cpu_percent": self._process.cpu_percent(),
                "memory_rss": self._process.memory_info().rss,
                "job_classes": self.job_classes,
                "current": self.threads.snapshot(),
                "callback_errors": self.executor.callback_errors,
                "stats": self.executor.stats.as_dict(),
                "appender_drops": self._drops(),
                **loop_figures(self.aio),
                **runboard.supervisor_figures(),
            }

    def _drops(self) -> Any:
        if self.log_handle is None:
            return 0
        try:
            return self.log_handle.drops()
        except Exception as exc:  # a logging failure must not stop heartbeats
            logger.warning("could not read appender drops", error=repr(exc))
            return None

    def reopen_logs(self) -> None:
        """Reopen log files (USR1)."""
        if self.log_handle is not None:
            self.log_handle.reopen()
        logger.info("log files reopened", server=self.server_name)

    def _set_title(self) -> None:
        try:
            import setproctitle
        except ImportError:  # optional at run time; installed with the package
            return
        state = {"running": ""}.get(self.controls.state, f" {self.controls.state}")
        async_part = f" [{self.aio.busy}/{self.aio.slots.size} async]" if self.aio else ""
        setproctitle.setproctitle(
            f"rocketjob: worker {self.number} [{self.threads.busy}/{self.threads.size} busy]"
            f"{async_part}{state}"
        )

    def log_thread_dump(self) -> None:
        """Log the stack of every thread of this process."""
        names = {thread.ident: thread.name for thread in threading.enumerate()}
        for ident, frame in sys._current_frames().items():
            stack = "".join(traceback.format_stack(frame))
            logger.info("thread dump", thread=names.get(ident, str(ident)), stack=stack)
