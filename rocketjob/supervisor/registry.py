"""The supervisor's worker processes: fork them clean, hear when they are ready, reap them.

Each worker gets a *ready pipe*: after a successful boot it writes ``R``; when it cannot
boot it writes ``E`` and one line saying why, then exits (3 for a job module that fails to
import). The supervisor watches the read ends in its main ``select``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from rocketjob.control import ExitCode
from rocketjob.log import logger
from rocketjob.supervisor import signals

#: How long a fork waits for threads left by a closed client (pymongo's monitors) to end.
STRAY_THREAD_SECONDS = 2.0


class StopMode(StrEnum):
    """How the supervisor asks a worker to stop."""

    #: TERM: finish running jobs up to drain_timeout, re-queue the rest.
    DRAIN = "drain"
    #: QUIT: stop now, running jobs are re-queued.
    QUICK = "quick"
    #: SIGKILL: a worker past its deadline.
    KILL = "kill"

    @property
    def signal(self) -> signal.Signals:
        """The signal that asks it."""
        return _STOP_SIGNALS[self]


_STOP_SIGNALS = {
    StopMode.DRAIN: signal.SIGTERM, StopMode.QUICK: signal.SIGQUIT, StopMode.KILL: signal.SIGKILL,
}  # fmt: skip

#: What a forked worker runs: (number, ready_fd, fds_to_close) -> never returns.
ChildMain = Callable[[int, int, list[int]], None]


@dataclass
class WorkerProcess:
    """One forked worker process, as the supervisor sees it."""

    number: int
    pid: int
    generation: int
    ready_fd: int | None
    spawned_at: float
    ready_at: float | None = None
    #: Set when the supervisor asked it to stop.
    stop_requested: StopMode | None = None
    stop_requested_at: float | None = None
    boot_error: str = ""
    _buffer: bytes = field(default=b"", repr=False)

    @property
    def server_name(self) -> str:
        """Its server document's name, ``host:pid``."""
        return f"{socket.gethostname()}:{self.pid}"

    @property
    def ready(self) -> bool:
        """True once it booted and registered its server."""
        return self.ready_at is not None


@dataclass(frozen=True)
class Exited:
    """A reaped worker and how it ended."""

    worker: WorkerProcess
    status: int

    @property
    def code(self) -> int | None:
        """Its exit code, or None when a signal killed it."""
        return os.waitstatus_to_exitcode(self.status) if os.WIFEXITED(self.status) else None

    @property
    def signal(self) -> int | None:
        """The signal that killed it, if any."""
        return os.WTERMSIG(self.status) if os.WIFSIGNALED(self.status) else None

    def describe(self) -> str:
        """``exit 3`` or ``SIGKILL``."""
        if self.signal is not None:
            return signal.Signals(self.signal).name
        return f"exit {self.code}"


class Registry:
    """The live worker processes, by pid."""

    def __init__(self, queue: signals.SignalQueue) -> None:
        self.queue = queue
        self.workers: dict[int, WorkerProcess] = {}

    def __iter__(self) -> Iterator[WorkerProcess]:
        return iter(list(self.workers.values()))

    def __len__(self) -> int:
        return len(self.workers)

    def spawn(
        self, number: int, generation: int, now: float, child_main: ChildMain
    ) -> WorkerProcess:
        """Fork a worker with every handled signal blocked; raise OSError if fork fails."""
        _join_stray_threads(deadline=time.monotonic() + STRAY_THREAD_SECONDS)
        read_fd, write_fd = os.pipe()
        previous = signals.block_all()
        try:
            pid = os.fork()
        except OSError:
            signals.restore_mask(previous)
            os.close(read_fd)
            os.close(write_fd)
            raise
        if pid == 0:  # the worker: never returns
            os.close(read_fd)
            child_main(number, write_fd, self._inherited_fds())
            os._exit(ExitCode.FAILURE)  # pragma: no cover - child_main always exits
        signals.restore_mask(previous)
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        worker = WorkerProcess(number, pid, generation, read_fd, spawned_at=now)
        self.workers[pid] = worker
        return worker

    def _inherited_fds(self) -> list[int]:
        """Descriptors a forked worker must close: other workers' ready pipes."""
        return [w.ready_fd for w in self.workers.values() if w.ready_fd is not None]

    def ready_fds(self) -> list[int]:
        """Read ends of the ready pipes still open."""
        return [w.ready_fd for w in self.workers.values() if w.ready_fd is not None]

    def read_ready(self, fds: list[int], now: float) -> list[WorkerProcess]:
        """Read the ready pipes that ``select`` found readable; return workers that just
        became ready."""
        became_ready = []
        by_fd = {w.ready_fd: w for w in self.workers.values() if w.ready_fd is not None}
        for fd in fds:
            worker = by_fd.get(fd)
            if worker is not None and self._read_pipe(worker, now):
                became_ready.append(worker)
        return became_ready

    def _read_pipe(self, worker: WorkerProcess, now: float) -> bool:
        """Read what the worker wrote; close at EOF. True if it just became ready."""
        assert worker.ready_fd is not None
        was_ready = worker.ready
        while True:
            try:
                chunk = os.read(worker.ready_fd, 4096)
            except BlockingIOError:
                break
            if not chunk:
                os.close(worker.ready_fd)
                worker.ready_fd = None
                break
            worker._buffer += chunk
        if worker._buffer.startswith(b"R") and not was_ready:
            worker.ready_at = now
        elif worker._buffer.startswith(b"E"):
            worker.boot_error = worker._buffer[1:].decode(errors="replace").strip()
        return worker.ready and not was_ready

    def reap(self, now: float) -> list[Exited]:
        """``waitpid(WNOHANG)`` every exited worker; forget them."""
        exited = []
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            worker = self.workers.pop(pid, None)
            if worker is None:
                continue
            if worker.ready_fd is not None:
                self._read_pipe(worker, now)
                if worker.ready_fd is not None:
                    os.close(worker.ready_fd)
                    worker.ready_fd = None
            exited.append(Exited(worker, status))
        return exited

    def send(self, worker: WorkerProcess, signum: int) -> None:
        """Send ``signum`` to a worker (it may have just exited)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signum)

    def broadcast(self, signum: int) -> None:
        """Send ``signum`` to every worker."""
        for worker in self:
            self.send(worker, signum)

    def stop(self, worker: WorkerProcess, how: StopMode, now: float) -> None:
        """Ask a worker to stop: DRAIN (TERM), QUICK (QUIT) or KILL (SIGKILL)."""
        worker.stop_requested = how
        worker.stop_requested_at = now
        self.send(worker, how.signal)

    def active(self) -> list[WorkerProcess]:
        """Workers not asked to stop."""
        return [w for w in self.workers.values() if w.stop_requested is None]

    def free_number(self) -> int:
        """The lowest worker number not used by an active worker."""
        used = {w.number for w in self.active()}
        number = 1
        while number in used:
            number += 1
        return number


def _join_stray_threads(deadline: float) -> None:
    """Fork clean: wait (bounded) for threads a just-closed store client left behind;
    warn if any is still alive at fork."""
    for thread in threading.enumerate():
        if thread is not threading.main_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
    if threading.active_count() > 1:
        names = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
        logger.warning("threads alive at fork", threads=names)
