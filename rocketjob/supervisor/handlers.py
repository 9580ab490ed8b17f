"""What the supervisor does for each signal (DESIGN §3), called from its main loop.

Never from a signal handler: the handlers only enqueue (see :mod:`.signals`).

======  ==========================================================================
TERM    drain: workers stop claiming, finish running jobs up to drain_timeout, re-queue
        the rest; exit 0
INT     the same; a second INT stops quickly (as QUIT)
QUIT    stop now: running jobs are re-queued, not failed
TSTP    pause claiming in every worker (processes stay); CONT resumes
HUP     re-read the config file and replace the workers one by one; a bad config
        keeps the running one and logs why
USR1    reopen log files (the supervisor's and every worker's)
USR2    every worker logs the stack of each of its threads
TTIN    one worker process more; TTOU one fewer (never below one)
CHLD    wakes the loop, which reaps exited workers
======  ==========================================================================
"""

from __future__ import annotations

import mmap
import signal

from rocketjob import config as config_module
from rocketjob import connection
from rocketjob.config import Config
from rocketjob.errors import ConfigError, StoreError
from rocketjob.log import LogHandle, logger
from rocketjob.supervisor import logs
from rocketjob.supervisor.notify import Notifier
from rocketjob.supervisor.registry import Registry, StopMode
from rocketjob.supervisor.release import check_store

#: TTIN never grows the supervisor past this many worker processes.
MAX_PROCESSES = 64


class SignalHandlers:
    """The ``handle_<signal>()`` methods of :class:`~rocketjob.supervisor.Supervisor`."""

    config: Config
    registry: Registry
    notifier: Notifier
    log: LogHandle | None
    target: int
    generation: int
    paused: bool
    pause_flag: mmap.mmap
    stopping: StopMode | None
    store_url: str
    reloading: bool
    next_spawn_at: float

    def begin_stop(self, how: StopMode) -> None:
        """Defined by the supervisor."""
        raise NotImplementedError

    def handle_term(self) -> None:
        """Drain and exit 0."""
        self.begin_stop(StopMode.DRAIN)

    def handle_int(self) -> None:
        """Drain; a second INT (or INT while already draining) stops quickly."""
        self.begin_stop(StopMode.QUICK if self.stopping else StopMode.DRAIN)

    def handle_quit(self) -> None:
        """Stop now; running jobs are re-queued."""
        self.begin_stop(StopMode.QUICK)

    def handle_tstp(self) -> None:
        """Pause claiming in every worker."""
        self.paused = True
        self.pause_flag[0] = 1  # before the signal: a worker reads the state, not the order
        self.registry.broadcast(signal.SIGTSTP)
        logger.info("workers paused", workers=len(self.registry))

    def handle_cont(self) -> None:
        """Resume claiming in every worker."""
        self.paused = False
        self.pause_flag[0] = 0
        self.registry.broadcast(signal.SIGCONT)
        logger.info("workers resumed", workers=len(self.registry))

    def handle_usr1(self) -> None:
        """Reopen log files here and in every worker."""
        if self.log is not None:
            self.log.reopen()
        self.registry.broadcast(signal.SIGUSR1)
        logger.info("log files reopened")

    def handle_usr2(self) -> None:
        """Every worker logs its threads' stacks."""
        self.registry.broadcast(signal.SIGUSR2)

    def handle_ttin(self) -> None:
        """One worker process more."""
        if self.stopping or self.target >= MAX_PROCESSES:
            logger.warning("TTIN ignored", target=self.target, stopping=self.stopping)
            return
        self.target += 1
        logger.info("worker processes increased", target=self.target)

    def handle_ttou(self) -> None:
        """One worker process fewer (at least one stays)."""
        if self.stopping or self.target <= 1:
            logger.warning("TTOU ignored", target=self.target, stopping=self.stopping)
            return
        self.target -= 1
        logger.info("worker processes decreased", target=self.target)

    def handle_chld(self) -> None:
        """Nothing: the loop reaps exited workers on every turn."""

    def handle_hup(self) -> None:
        """Re-read the config; on success replace the workers one by one."""
        if self.stopping:
            return
        new = self.reload_config()
        if new is None:
            return
        try:  # replaces the running logging only once the new one is built
            self.log = logs.setup(new, role="supervisor")
        except ConfigError as exc:
            logger.error("config reload failed; keeping the running config", error=str(exc))
            return
        self.notifier.reloading()
        self.config = new
        self.store_url = connection.resolve_url(new.store.url)
        self.target = new.supervisor.processes
        self.generation += 1
        self.reloading = True
        self.next_spawn_at = 0.0
        logger.info("config reloaded; replacing workers", generation=self.generation)

    def reload_config(self) -> Config | None:
        """The re-read config, or None (logged) when it is invalid or its store is
        unreachable: the running config stays."""
        path = self.config.path
        if path is None:
            logger.warning("HUP ignored: no config file to re-read")
            return None
        try:
            new = config_module.load(path)
            check_store(connection.resolve_url(new.store.url))
        except (ConfigError, StoreError) as exc:
            logger.error("config reload failed; keeping the running config", error=str(exc))
            self.notifier.status(f"config reload failed: {exc}")
            return None
        if new.supervisor.pidfile != self.config.supervisor.pidfile:
            logger.warning("supervisor.pidfile changes only at restart")
        return new
