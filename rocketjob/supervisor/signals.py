"""The supervisor's signals: handlers only enqueue, the main loop does the work.

A handler appends the signal number to a deque (an atomic operation, safe in a handler)
and the C-level wake-up fd writes a byte to a non-blocking self-pipe, so a main loop
blocked in ``select`` wakes at once. Nothing else happens inside a handler: no logging,
locks, I/O or ``os.kill`` (STYLE.md, convention 2).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
from collections import deque
from collections.abc import Iterable
from types import FrameType

#: Signals the supervisor owns (DESIGN §3), plus CHLD to wake the loop when a worker exits.
HANDLED: tuple[signal.Signals, ...] = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTSTP,
    signal.SIGCONT,
    signal.SIGHUP,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGCHLD,
)


class SignalQueue:
    """Queue of received signals and the self-pipe that wakes the main loop."""

    def __init__(self) -> None:
        self.pending: deque[int] = deque()
        self._read_fd, self._write_fd = os.pipe()
        for fd in (self._read_fd, self._write_fd):
            os.set_blocking(fd, False)
        self._previous: dict[int, object] = {}

    @property
    def fds(self) -> tuple[int, int]:
        """The self-pipe's descriptors (a forked worker closes them)."""
        return self._read_fd, self._write_fd

    def install(self) -> None:
        """Install the handlers and the wake-up fd (main thread only)."""
        signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        for signum in HANDLED:
            self._previous[signum] = signal.signal(signum, self._enqueue)

    def _enqueue(self, signum: int, frame: FrameType | None) -> None:
        """The handler: only append."""
        self.pending.append(signum)

    def wait(self, timeout: float, extra_fds: Iterable[int] = ()) -> list[int]:
        """Block up to ``timeout`` seconds for a signal or a readable ``extra_fds``;
        return the descriptors of ``extra_fds`` that are readable."""
        watched = [self._read_fd, *extra_fds]
        if self.pending:
            timeout = 0.0
        try:
            readable, _, _ = select.select(watched, [], [], max(0.0, timeout))
        except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for safety
            return []
        if self._read_fd in readable:
            self._drain_pipe()
        return [fd for fd in readable if fd != self._read_fd]

    def _drain_pipe(self) -> None:
        while True:
            try:
                if not os.read(self._read_fd, 4096):
                    return
            except BlockingIOError:
                return

    def take(self) -> list[int]:
        """Every signal received since the last call, oldest first."""
        taken: list[int] = []
        while self.pending:
            taken.append(self.pending.popleft())
        return taken

    def restore(self) -> None:
        """Put back the previous handlers and close the pipe."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()
        signal.set_wakeup_fd(-1)
        self.close()

    def close(self) -> None:
        """Close the self-pipe (in a forked worker, or after restore)."""
        for fd in (self._read_fd, self._write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


def block_all() -> set[int]:
    """Block every handled signal (around fork); return the previous mask."""
    return {int(signum) for signum in signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)}


def restore_mask(previous: Iterable[int]) -> None:
    """Put back the signal mask returned by :func:`block_all`."""
    signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def reset_in_child(queue: SignalQueue | None) -> None:
    """In a forked worker: default handlers, no wake-up fd, the supervisor's pipe closed.
    The mask stays blocked until the worker installs its own handlers."""
    signal.set_wakeup_fd(-1)
    for signum in HANDLED:
        signal.signal(signum, signal.SIG_DFL)
    if queue is not None:
        queue.close()
