"""A worker process: boots, claims and runs jobs on its thread pool, drains.

The unit the supervisor forks. ``Worker(config).boot()`` imports the job modules, opens
the store and registers the server document; ``run()`` is the dispatcher loop (claim by
demand, heartbeats, remote commands) until a stop is requested; it then drains and
returns the exit code.
"""

from __future__ import annotations

import fnmatch
import importlib
import os
import random
import signal
import socket
import sys
import threading
import time
import traceback
from collections import deque
from types import FrameType
from typing import Any, Protocol

import psutil

from rocketjob import connection, runboard, sizes
from rocketjob.aio.glue import build_runner, loop_figures
from rocketjob.aio.kinds import thread_job_classes
from rocketjob.aio.runner import AsyncRunner
from rocketjob.batch.claims import BatchClaims
from rocketjob.clock import SYSTEM_CLOCK, Clock
from rocketjob.config import Config
from rocketjob.containment import Containment
from rocketjob.errors import JobImportError, StoreError
from rocketjob.executor import ClaimAhead, Executor
from rocketjob.job import REGISTRY, Job
from rocketjob.log import job_context, logger
from rocketjob.plugins import cron, throttle
from rocketjob.plugins.dirmon_confine import configure_roots as configure_dirmon_roots
from rocketjob.recycle import EXIT_RECYCLE
from rocketjob.requeue import requeue_server_jobs
from rocketjob.store import ClaimLimit, Store
from rocketjob.threads import JobThreads

DRAIN, STOP_NOW = "drain", "stop_now"
REOPEN_LOGS = "reopen_logs"
#: Longest single wait of the dispatcher, so stop requests are seen promptly.
TICK_SECONDS = 0.25


def import_job_modules(modules: tuple[str, ...]) -> None:
    """Import every module of ``[worker] imports``; raise JobImportError naming it."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise JobImportError(f"worker.imports: cannot import {name!r}: {exc!r}") from exc


def select_job_classes(include: tuple[str, ...], exclude: tuple[str, ...]) -> list[str]:
    """Dotted paths of the imported job classes this worker runs. Patterns (fnmatch)
    match the dotted path or the bare class name."""

    def matches(path: str, patterns: tuple[str, ...]) -> bool:
        short = path.rsplit(".", 1)[-1]
        return any(fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(short, p) for p in patterns)

    return sorted(
        path
        for path in REGISTRY
        if (not include or matches(path, include)) and not matches(path, exclude)
    )


class LogControl(Protocol):
    """The part of a logging handle a worker uses: reopen files, count drops."""

    def reopen(self) -> None:
        """Reopen log files."""

    def drops(self) -> Any:
        """Records dropped so far."""


class Worker:
    """One worker process: a thread pool fed by a dispatcher loop."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock = SYSTEM_CLOCK,
        number: int = 1,
        log_handle: LogControl | None = None,
        parent_pid: int | None = None,
        pause_flag: Any = None,
    ) -> None:
        self.config = config
        # The supervisor's shared pause byte (None when run alone): TSTP and CONT pending
        # together are delivered lowest number first (CONT before TSTP), so a signal only
        # says "look at the flag", never which state to take.
        self.pause_flag = pause_flag
        self.clock = clock
        self.number = number
        self.log_handle = log_handle
        #: The supervisor's pid: when it changes (the supervisor died) the worker drains.
        self.parent_pid = parent_pid
        self.server_name = f"{socket.gethostname()}:{os.getpid()}"
        self.requests: deque[str] = deque()  # filled by signal handlers and commands
        self.paused = False
        self.stopping: str | None = None
        self.store: Store | None = None
        self.threads: JobThreads | None = None
        self.aio: AsyncRunner | None = None  # the event loop of coroutine jobs, if any
        self.job_classes: list[str] = []
        self.thread_classes: list[str] = []  # never a coroutine job (rocketjob.aio)
        self.claim_limits: list[ClaimLimit] = []
        self.batch = BatchClaims([])
        self._process = psutil.Process()
        self._next_heartbeat = 0.0
        self._next_command_check = 0.0
        self._next_title = 0.0
        #: 0, or EXIT_RECYCLE once the process recycles itself (rocketjob.recycle).
        self.exit_code = 0

    # -- boot -------------------------------------------------------------------
    def boot(self) -> None:
        """Import job modules (JobImportError), open the store (StoreUnavailable),
        start the threads and register the server."""
        import_job_modules(self.config.worker.imports)
        configure_dirmon_roots(self.config.dirmon.roots)
        sizes.configure(self.config.store.max_job_bytes)
        self.job_classes = select_job_classes(
            self.config.worker.include, self.config.worker.exclude
        )
        self.thread_classes = thread_job_classes(self.job_classes)
        self.claim_limits = throttle.claim_limits(self.job_classes)
        self.batch = BatchClaims(self.job_classes)
        self.store = connection.current_store()
        self.executor = Executor(
            self.store,
            job_context=job_context,
            is_stopping=lambda: self.stopping == STOP_NOW,
            claim_ahead=self._claim_ahead,
            on_claimed=self._assign,
            busy=lambda: self.threads.busy if self.threads is not None else 0,
        )
        self.containment = Containment(self.config.worker, self.executor.run)
        self.threads = JobThreads(
            self.server_name, self.config.worker.threads, self.containment.job_runner()
        )
        recycler = self.containment.recycler  # coroutine jobs count towards max_jobs too
        self.aio = build_runner(
            self.config.worker, self.server_name, self.store, self.job_classes,
            self.claim_limits, now=self.clock.now, freed=self.threads.freed,
            may_claim=lambda: not (self.paused or self.stopping or recycler.reason),
            stats=self.executor.stats, on_error=self.executor.count_callback_error,
            after_job=recycler.job_finished if recycler.enabled else None,
        )  # fmt: skip
        now = self.clock.now()
        self.store.register_server({
            "name": self.server_name, "host": socket.gethostname(), "pid": os.getpid(),
            "state": "running", "started_at": now, "heartbeat_at": now,
            "threads": self.config.worker.threads, "busy": 0,
            "info": self._info(), "commands": [],
        })  # fmt: skip
        cron.ensure_scheduled(self.job_classes, now)  # one instance per cron class
        logger.info(
            "worker started",
            server=self.server_name,
            threads=self.config.worker.threads,
            job_classes=len(self.job_classes),
        )

    # -- requests (thread- and signal-safe: only append) -------------------------------
    def request(self, what: str) -> None:
        """Queue a request: drain, stop_now, pause, resume, thread_dump."""
        self.requests.append(what)

    # -- main loop ----------------------------------------------------------------------
    def run(self) -> int:
        """The dispatcher loop; returns the process exit code after draining."""
        assert self.store is not None and self.threads is not None
        idle_wait = 0.0
        while self.stopping is None:
            self._handle_requests()
            self._periodic()
            if self.stopping is not None:
                break
            if self.paused:
                time.sleep(TICK_SECONDS)
                continue
            idle = self.threads.idle_names() if self.thread_classes or self.batch else []
            free = self.aio.free_names() if self.aio is not None else []
            if not idle and not free:
                self.threads.freed.wait(TICK_SECONDS)
                self.threads.freed.clear()
                continue
            claimed = self._claim(idle) if idle else 0
            if free and self.aio is not None:
                claimed += self.aio.claim(free)
            if claimed:
                idle_wait = 0.0
                continue
            idle_wait = self._wait_for_jobs(idle_wait)
        self.drain()
        return self.exit_code

    def _claim(self, idle: list[str]) -> int:
        assert self.store is not None and self.threads is not None
        try:
            docs = self.store.claim_jobs(
                idle, self.thread_classes, self.clock.now(), self.claim_limits
            )
        except StoreError as exc:
            logger.warning("store unavailable; backing off", error=str(exc))
            time.sleep(min(5.0, 0.5 + random.random()))
            return 0
        for doc in docs:
            self.threads.assign(doc)
        if len(docs) < len(idle) and self.batch:  # idle threads left: slices of batch jobs
            slices = self.batch.claim(self.store, idle[len(docs) :], self.clock.now())
            for doc in slices:
                self.threads.assign(doc)
            return len(docs) + len(slices)
        return len(docs)

    def _claim_ahead(self, worker_names: list[str]) -> ClaimAhead | None:
        """Called as job threads' outcomes are written: claim their next jobs in the same
        transaction, unless paused or stopping."""
        if self.paused or self.stopping is not None or self.containment.recycle_reason:
            return None
        return ClaimAhead(worker_names, self.thread_classes, self.clock.now(), self.claim_limits)

    def _assign(self, docs: list[Any]) -> None:
        assert self.threads is not None
        for doc in docs:
            self.threads.assign(doc)

    def _wait_for_jobs(self, idle_wait: float) -> float:
        """Wait for a wake-up or for the next idle poll; returns the next poll delay."""
        assert self.store is not None
        delay = idle_wait or 0.05
        start = time.monotonic()
        deadline = start + delay
        while self.stopping is None and not self.requests:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            slice_end = time.monotonic() + min(remaining, TICK_SECONDS)
            self.store.wait_for_jobs(slice_end - time.monotonic())
            if time.monotonic() < slice_end - 0.0005:  # woken before the slice ended: work
                return 0.0
        jitter = 1 + random.uniform(-0.1, 0.1)
        return min(delay * 2, self.config.worker.max_poll_seconds) * jitter

    # -- periodic work: heartbeat, remote commands, process title ---------------------
    def _periodic(self) -> None:
        self._recycle()
        now = time.monotonic()
        if self.parent_pid is not None and os.getppid() != self.parent_pid and not self.stopping:
            logger.warning("supervisor gone; draining", server=self.server_name)
            self.parent_pid = None
            self.requests.append(DRAIN)
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + self.config.worker.heartbeat_seconds
            self._next_command_check = now + self.config.worker.max_poll_seconds
            self.heartbeat()
            self._contain()
        elif now >= self._next_command_check:
            self._next_command_check = now + self.config.worker.max_poll_seconds
            self.heartbeat(reap=False)
            self._contain()
        if now >= self._next_title:
            self._next_title = now + 0.5
            self._set_title()

    def _recycle(self) -> None:
        """Drain and exit with EXIT_RECYCLE once a recycling limit was reached."""
        reason = self.containment.recycle_reason
        if reason is not None and self.stopping is None:
            logger.info("worker recycling", server=self.server_name, reason=reason)
            self.exit_code = EXIT_RECYCLE
            self.stopping = DRAIN

    def _contain(self) -> None:
        """Interrupt running jobs that were aborted."""
        assert self.store is not None and self.threads is not None
        try:
            self.containment.interrupt_aborted(
                self.store, self.threads.snapshot(), self.threads.idents()
            )
        except StoreError as exc:
            logger.warning("could not check running jobs", error=str(exc))

    def heartbeat(self, reap: bool = True) -> None:
        """Write the server's heartbeat, take its commands, reap zombie servers."""
        assert self.store is not None and self.threads is not None
        state = "stopping" if self.stopping else ("paused" if self.paused else "running")
        changes: dict[str, Any] = {
            "heartbeat_at": self.clock.now(), "state": state, "busy": self.threads.busy,
        }  # fmt: skip
        if reap or self.aio is not None:  # busy slots live in info (rocketjob.aio.glue)
            changes["info"] = self._info()
        try:
            doc = self.store.heartbeat_server(self.server_name, changes)
            if doc is None:
                logger.warning(
                    "server was declared dead; registering again", server=self.server_name
                )
                self.store.register_server({**changes, **self._identity(), "commands": []})
                return
            self.requests.extend(doc["commands"])
            if reap:
                self._reap_zombies()
        except StoreError as exc:
            logger.warning("heartbeat failed", error=str(exc))

    def _reap_zombies(self) -> None:
        assert self.store is not None
        cutoff = self.clock.now().timestamp() - self.config.worker.zombie_seconds
        import datetime as dt

        reaped = self.store.reap_zombie_servers(dt.datetime.fromtimestamp(cutoff, dt.UTC))
        for name in reaped:
            logger.warning("zombie server reaped; its jobs re-queued", server=name)
            self.batch.release(self.store, name)
        self.batch.release_orphans(self.store)

    def _identity(self) -> dict[str, Any]:
        return {
            "name": self.server_name, "host": socket.gethostname(), "pid": os.getpid(),
            "started_at": self.clock.now(), "threads": self.config.worker.threads,
            "busy": 0, "info": self._info(), "state": "running",
            "heartbeat_at": self.clock.now(),
        }  # fmt: skip

    def _info(self) -> dict[str, Any]:
        with self._process.oneshot():
            return {
                "cpu_percent": self._process.cpu_percent(),
                "memory_rss": self._process.memory_info().rss,
                "job_classes": self.job_classes,
                "current": self.threads.snapshot() if self.threads else {},
                "callback_errors": getattr(getattr(self, "executor", None), "callback_errors", 0),
                "stats": self.executor.stats.as_dict() if hasattr(self, "executor") else {},
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

    def _reopen_logs(self) -> None:
        if self.log_handle is not None:
            self.log_handle.reopen()
        logger.info("log files reopened", server=self.server_name)

    def _set_title(self) -> None:
        assert self.threads is not None
        try:
            import setproctitle

            state = " stopping" if self.stopping else (" paused" if self.paused else "")
            setproctitle.setproctitle(
                f"rocketjob: worker {self.number} [{self.threads.busy}/{self.threads.size} busy]"
                + (f" [{self.aio.busy}/{self.aio.slots.size} async]" if self.aio else "")
                + state
            )
        except ImportError:  # optional at run time; installed with the package
            pass

    def _handle_requests(self) -> None:
        while self.requests:
            what = self.requests.popleft()
            if what in ("drain", "stop"):
                self.stopping = self.stopping or DRAIN
            elif what in ("stop_now", "kill"):
                self.stopping = STOP_NOW
            elif what in ("pause_signal", "resume_signal"):
                flag = self.pause_flag
                paused = bool(flag[0]) if flag is not None else what == "pause_signal"
                self.requests.appendleft("pause" if paused else "resume")
            elif what == "pause":
                self.paused = True
                logger.info("worker paused", server=self.server_name)
            elif what == "resume":
                self.paused = False
                logger.info("worker resumed", server=self.server_name)
            elif what in ("thread_dump", "thread-dump"):
                self.log_thread_dump()
            elif what == REOPEN_LOGS:
                self._reopen_logs()
            else:
                logger.warning("unknown command ignored", command=what)

    def log_thread_dump(self) -> None:
        """Log the stack of every thread of this process."""
        names = {thread.ident: thread.name for thread in threading.enumerate()}
        for ident, frame in sys._current_frames().items():
            stack = "".join(traceback.format_stack(frame))
            logger.info("thread dump", thread=names.get(ident, str(ident)), stack=stack)

    # -- drain ----------------------------------------------------------------------------
    def drain(self) -> int:
        """Stop claiming; let running jobs finish up to drain_timeout (none for a stop
        now, which may also arrive while draining); re-queue what is left; remove the
        server. Returns 0."""
        assert self.store is not None and self.threads is not None
        logger.info("worker draining", server=self.server_name, busy=self.threads.busy)
        self.threads.stop()
        if self.aio is not None:
            self.aio.stop_claiming()
        finished = self._wait_for_threads()
        if self.aio is not None:  # coroutine jobs still running are cancelled, re-queued
            self.aio.release()
        try:
            requeued = requeue_server_jobs(
                self.store, self.server_name, self.executor.count_callback_error
            )
            self.store.remove_server(self.server_name)
        except StoreError as exc:
            logger.error("could not release jobs at stop", error=str(exc))
            return 0
        logger.info("worker stopped", server=self.server_name, requeued=requeued, clean=finished)
        return 0

    def _wait_for_threads(self) -> bool:
        """Join the job threads until drain_timeout or a stop now; True if all exited.
        Heartbeats, commands and signals are still served meanwhile."""
        assert self.threads is not None
        start = time.monotonic()
        while True:
            timeout = 0.0 if self.stopping == STOP_NOW else self.config.supervisor.drain_timeout
            remaining = start + timeout - time.monotonic()
            wait = min(TICK_SECONDS, max(0.0, remaining))
            if self.threads.join(wait) and (self.aio is None or self.aio.join(wait)):
                return True
            if remaining <= 0:
                return False
            self._handle_requests()
            self._periodic()


def install_signal_handlers(worker: Worker) -> None:
    """Signals of a worker process (the supervisor forwards its own): handlers only
    queue a request; HUP, TTIN and TTOU belong to the supervisor and are ignored."""
    handler = _SignalRequests(worker)
    for signum in (*_SIGNAL_REQUESTS, signal.SIGINT):
        signal.signal(signum, handler)
    for signum in (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU):
        signal.signal(signum, signal.SIG_IGN)


class _SignalRequests:
    """The worker's signal handler: a first INT drains, a second stops now."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.interrupts = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT:
            self.interrupts += 1
            self.worker.request(DRAIN if self.interrupts == 1 else STOP_NOW)
        else:
            self.worker.request(_SIGNAL_REQUESTS[signum])


_SIGNAL_REQUESTS: dict[int, str] = {
    signal.SIGTERM: DRAIN,
    signal.SIGQUIT: STOP_NOW,
    signal.SIGTSTP: "pause_signal",
    signal.SIGCONT: "resume_signal",
    signal.SIGUSR1: REOPEN_LOGS,
    signal.SIGUSR2: "thread_dump",
}


__all__ = [
    "DRAIN",
    "REOPEN_LOGS",
    "STOP_NOW",
    "Job",
    "Worker",
    "import_job_modules",
    "install_signal_handlers",
    "select_job_classes",
]
