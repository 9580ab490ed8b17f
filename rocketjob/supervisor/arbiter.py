"""The supervisor's main loop (gunicorn's arbiter is the model).

One loop wakes on a signal, a ready pipe or a deadline; it dispatches queued signals to
``handle_<name>()`` (see :mod:`rocketjob.supervisor.handlers`), reaps exited workers and
releases their jobs at once, keeps the right number of workers running (replacing dead
ones with back-off, rolling them one by one after a reload), enforces stop deadlines, and
feeds systemd. It holds no threads, database clients or network sockets when it forks.
"""

from __future__ import annotations

import mmap
import signal
import time

from rocketjob import connection
from rocketjob.clock import SYSTEM_CLOCK, Clock
from rocketjob.config import Config
from rocketjob.control import ExitCode
from rocketjob.errors import JobImportError
from rocketjob.log import LogHandle, logger
from rocketjob.recycle import EXIT_RECYCLE
from rocketjob.runboard import RunBoard
from rocketjob.supervisor import child, logs
from rocketjob.supervisor.crashes import DeadWorker
from rocketjob.supervisor.faults import FaultPolicy
from rocketjob.supervisor.handlers import SignalHandlers
from rocketjob.supervisor.notify import Notifier
from rocketjob.supervisor.pidfile import Pidfile
from rocketjob.supervisor.registry import Exited, Registry, StopMode, WorkerProcess
from rocketjob.supervisor.release import check_store, release_jobs
from rocketjob.supervisor.signals import SignalQueue

#: Longest sleep of the main loop.
MAX_WAIT_SECONDS = 1.0
#: A worker dying within this many seconds of becoming ready counts as a failed start.
FAST_FAILURE_SECONDS = 2.0
BACKOFF_BASE_SECONDS, BACKOFF_MAX_SECONDS = 0.5, 30.0


class Supervisor(SignalHandlers):
    """The pre-fork supervisor: ``Supervisor(config).run()`` returns the exit code."""

    def __init__(self, config: Config, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        #: The store the workers open and dead workers' jobs are released in (the
        #: config's ``[store] url``, else ROCKETJOB_STORE, else the default).
        self.store_url = connection.resolve_url(config.store.url)
        self.clock = clock
        self.queue = SignalQueue()
        self.registry = Registry(self.queue)
        self.notifier = Notifier()
        self.pidfile = Pidfile(config.supervisor.pidfile)
        self.log: LogHandle | None = None
        self.target = config.supervisor.processes
        self.generation = 1
        self.paused = False
        # One byte shared with every forked worker (an anonymous shared mapping, no
        # thread or descriptor to clean): the pause state TSTP/CONT signals refer to.
        self.pause_flag = mmap.mmap(-1, 1)
        self.stopping: StopMode | None = None
        self.stop_deadline = 0.0
        self.halt_error: JobImportError | None = None
        self.announced_ready = False
        self.reloading = False
        self.failures = 0
        slots = config.worker.threads + config.worker.async_concurrency  # run board slots
        self.faults = FaultPolicy(
            slots, config.supervisor.backoff_reset, spacing=config.worker.max_poll_seconds + 0.1
        )
        self._next_board: RunBoard | None = None
        self.next_spawn_at = 0.0
        self.errors = 0

    # -- life cycle -------------------------------------------------------------------
    def run(self) -> int:
        """Check the store, install the handlers, write the pidfile, fork the workers
        and supervise them until stopped. Raises StoreUnavailable (exit 4) when the store
        cannot be reached and JobImportError (exit 3) when a worker cannot boot."""
        self.log = logs.setup(self.config, role="supervisor")
        check_store(self.store_url)
        self.queue.install()
        try:
            self.pidfile.write()
            _set_title("rocketjob: supervisor")
            logger.debug("supervisor started", processes=self.target, config=self.config.path)
            while not self.finished():
                self.tick()
        finally:
            self.pidfile.remove()
            self.queue.restore()
        if self.halt_error is None:  # a halt is reported by its one error line alone
            logger.info("supervisor stopped", errors=self.errors)
        self.log.close()
        if self.halt_error is not None:
            raise self.halt_error
        return ExitCode.OK

    def finished(self) -> bool:
        """True once stopping and every worker has exited."""
        return self.stopping is not None and len(self.registry) == 0

    def tick(self) -> None:
        """One turn of the main loop; an unexpected error is counted, logged and survived."""
        try:
            now = self.clock.monotonic()
            readable = self.queue.wait(self.wait_timeout(now), self.registry.ready_fds())
            now = self.clock.monotonic()
            for worker in self.registry.read_ready(readable, now):
                self.on_ready(worker)
            for signum in self.queue.take():
                self.dispatch(signum)
            for exited in self.registry.reap(self.clock.monotonic()):
                self.on_exit(exited)
            self.manage_workers(self.clock.monotonic())
            self.notifier.feed_watchdog(self.clock.monotonic())
            self.notifier.status(self.status_line())
        except Exception as exc:  # the supervisor must outlive any single failure
            self.errors += 1
            logger.opt(exception=exc).error("supervisor loop error", errors=self.errors)
            self.clock.sleep(0.1)  # no busy loop if the error repeats

    def wait_timeout(self, now: float) -> float:
        """How long the loop may sleep: until the next spawn, watchdog or deadline."""
        timeout = MAX_WAIT_SECONDS
        if len(self.registry.active()) < self.target and not self.stopping:
            timeout = min(timeout, self.next_spawn_at - now)
        if self.stopping:
            timeout = min(timeout, self.stop_deadline - now)
        watchdog = self.notifier.watchdog_due_in(now)
        if watchdog is not None:
            timeout = min(timeout, watchdog)
        return max(0.0, timeout)

    def dispatch(self, signum: int) -> None:
        """Call ``handle_<signal name>()`` for a queued signal."""
        name = signal.Signals(signum).name[3:].lower()
        handler = getattr(self, f"handle_{name}", None)
        if handler is None:
            logger.warning("unhandled signal", signal=name)
            return
        handler()

    # -- worker events ----------------------------------------------------------------
    def on_ready(self, worker: WorkerProcess) -> None:
        """A worker booted and registered its server."""
        logger.info("worker ready", number=worker.number, pid=worker.pid)
        if self.paused:  # in case it was forked before the pause reached it
            self.registry.send(worker, signal.SIGTSTP)

    def on_exit(self, exited: Exited) -> None:
        """A worker exited: account for its running jobs and release the rest at once
        (see rocketjob.supervisor.faults), then decide what to do."""
        worker, now = exited.worker, self.clock.monotonic()
        dead = self.faults.dead_worker(
            worker.pid, worker.server_name, exited.status, worker.stop_requested is not None
        )
        requeued = release_jobs(
            self.store_url, worker.server_name, dead, self.config.worker.max_crashes
        )
        # Counted once: a worker that drained re-queued its leftover jobs itself and said
        # so in its own "worker stopped"; here only jobs the supervisor re-queued appear.
        released = {} if requeued == 0 else {"requeued": requeued}
        boot_failed = not worker.ready and exited.code == ExitCode.IMPORT
        quiet = boot_failed or self.halt_error is not None
        logger.log(
            "DEBUG" if quiet else ("INFO" if worker.stop_requested else "WARNING"),
            "worker exited",
            number=worker.number,
            pid=worker.pid,
            how=exited.describe(),
            requested=worker.stop_requested,
            **released,
        )
        if self.stopping:
            return
        if boot_failed:
            self.halt(worker.boot_error or f"worker {worker.number} could not import its jobs")
        elif worker.stop_requested is None or dead.timed_out:
            self.schedule_replacement(worker, exited, dead, now)

    def schedule_replacement(
        self, worker: WorkerProcess, exited: Exited, dead: DeadWorker, now: float
    ) -> None:
        """Replace a worker that ended without being asked to (or that was killed for a
        job's time limit): at once, or after the crash back-off (FaultPolicy). A worker
        stopped by ``rocketjob servers stop|kill`` is replaced too: only TTOU and the
        configuration lower the number of workers."""
        lived = None if worker.ready_at is None else now - worker.ready_at
        delay = self.faults.replacement_delay(dead, exited.code, lived, now)
        self.failures = self.faults.failures
        self.next_spawn_at = max(self.next_spawn_at, now + delay)
        if exited.code == EXIT_RECYCLE:
            logger.info("worker recycled; replacing it", number=worker.number, pid=worker.pid)
        elif delay:
            logger.warning("worker failing; backing off", delay=delay, failures=self.failures)

    def halt(self, message: str) -> None:
        """A worker cannot boot: stop everything and exit 3 with its message."""
        logger.debug("worker cannot boot; halting", error=message)  # main() prints the line
        self.halt_error = JobImportError(message)
        self.begin_stop(StopMode.QUICK)

    # -- keeping the right workers ------------------------------------------------------
    def manage_workers(self, now: float) -> None:
        """Spawn missing workers, stop extra or outdated ones, enforce deadlines."""
        self.kill_stale(now)
        self.kill_overdue_jobs(time.monotonic())  # the boards use the system's monotonic time
        self.faults.settle([w.ready_at for w in self.registry if w.ready_at is not None], now)
        if self.stopping:
            return
        active = self.registry.active()
        all_ready = all(w.ready for w in active)
        outdated = [w for w in active if w.generation < self.generation]
        if len(active) < self.target:
            for _ in range(self.target - len(active)):
                if now < self.next_spawn_at:  # backing off (or fork failed)
                    break
                self.spawn(now)
        elif all_ready and len(active) > self.target:
            extra = outdated or sorted(active, key=lambda w: w.number)
            self.registry.stop(extra[-1] if not outdated else extra[0], StopMode.DRAIN, now)
        elif all_ready and outdated:
            self.spawn(now)  # one more of the new generation; an old one stops once it is up
        self.announce(active, all_ready, outdated)

    def spawn(self, now: float) -> None:
        """Fork one worker of the current generation."""
        number = self.registry.free_number()
        try:
            self._next_board = self.faults.new_board()
            worker = self.registry.spawn(number, self.generation, now, self._child_main)
        except OSError as exc:
            self.errors += 1
            self.failures += 1
            self.next_spawn_at = now + min(
                BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**self.failures
            )
            logger.error("fork failed", error=str(exc))
            return
        if self._next_board is not None:
            self.faults.track(worker.pid, self._next_board)
        logger.debug("worker spawned", number=number, pid=worker.pid, generation=self.generation)

    def _child_main(self, number: int, ready_fd: int, close_fds: list[int]) -> None:
        spec = child.ChildSpec(
            self.config, self.store_url, number, self.pause_flag, self._next_board
        )
        child.main(spec, ready_fd, close_fds, self.queue)

    def kill_overdue_jobs(self, now: float) -> None:
        """SIGKILL the workers running a job past its hard time limit (its soft
        JobTimeout, or an abort, did not stop it): the job is failed with JobTimeout and
        the worker replaced once it is reaped."""
        by_pid = {w.pid: w for w in self.registry}
        for pid, job_ids in self.faults.overdue(now).items():
            worker = by_pid.get(pid)
            if worker is None or worker.stop_requested is StopMode.KILL:
                continue
            logger.error("job past its hard time limit; killing its worker",
                         number=worker.number, pid=pid, job_ids=job_ids)  # fmt: skip
            self.registry.stop(worker, StopMode.KILL, now)

    def kill_stale(self, now: float) -> None:
        """SIGKILL workers past their deadline: boot timeout, drain timeout, stop deadline."""
        grace = self.config.supervisor.drain_timeout + self.config.logging.close_timeout + 5
        for worker in self.registry:
            if worker.stop_requested is StopMode.KILL:
                continue
            late_boot = (
                not worker.ready and now - worker.spawned_at > self.config.supervisor.boot_timeout
            )
            asked = worker.stop_requested_at
            late_stop = asked is not None and now - asked > grace
            if late_boot or late_stop or (self.stopping and now >= self.stop_deadline):
                logger.warning("worker overdue; killing it", number=worker.number, pid=worker.pid)
                self.registry.stop(worker, StopMode.KILL, now)
                if late_boot and not self.stopping:  # a failed start: back off
                    delay = self.faults.failed_start(now)
                    self.failures = self.faults.failures
                    self.next_spawn_at = max(self.next_spawn_at, now + delay)

    def announce(
        self, active: list[WorkerProcess], all_ready: bool, outdated: list[WorkerProcess]
    ) -> None:
        """Tell systemd READY=1 once the workers are up (at start and after a reload)."""
        settled = all_ready and len(active) >= self.target
        if settled and not self.announced_ready:
            self.announced_ready = True
            self.notifier.ready(self.status_line())
            pids = sorted(w.pid for w in active)
            logger.info("supervisor ready", workers=len(active), pids=pids, config=self.config.path)
        elif settled and self.reloading and not outdated:
            self.reloading = False
            self.notifier.ready(self.status_line())
            logger.info("reload complete", workers=len(active), generation=self.generation)

    def status_line(self) -> str:
        """One line for systemd's STATUS."""
        state = (self.stopping and "stopping") or ("paused" if self.paused else "running")
        if self.reloading and not self.stopping:
            state = "reloading"
        return f"{state}: {len(self.registry.active())}/{self.target} workers"

    def begin_stop(self, how: StopMode) -> None:
        """Stop every worker: ``drain`` (TERM, up to drain_timeout) or ``quick`` (QUIT)."""
        if self.stopping is StopMode.QUICK or self.stopping is how:
            return
        now = self.clock.monotonic()
        self.stopping = how
        close = self.config.logging.close_timeout + 5
        extra = self.config.supervisor.drain_timeout if how is StopMode.DRAIN else 0.0
        self.stop_deadline = now + extra + close
        self.notifier.stopping("draining" if how is StopMode.DRAIN else "stopping")
        if self.halt_error is None:
            logger.info("supervisor stopping", how=how, workers=len(self.registry))
        for worker in self.registry:
            if worker.stop_requested not in (StopMode.KILL, how):
                self.registry.stop(worker, how, now)


def _set_title(title: str) -> None:
    try:
        import setproctitle

        setproctitle.setproctitle(title)
    except ImportError:  # pragma: no cover - a declared dependency
        pass
