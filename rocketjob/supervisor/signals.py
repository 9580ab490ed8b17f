"""The supervisor's signals: the main loop reads them and does the work.

On Linux the handled signals stay blocked and the main loop reads them from a
``signalfd``, so a loop blocked in ``select`` wakes at once. Blocked signals stay pending
in the kernel, where a CONT discards a pending TSTP (and a TSTP a pending CONT): of a
TSTP and a CONT sent in the same instant, the loop sees only the later one. Delivered
through handlers instead, a burst of signals can run in another order than it was sent
(the kernel stacks the handler frames, and Python runs pending handlers in signal-number
order), and a TSTP, CONT burst could leave the workers paused.

Elsewhere (or if ``signalfd`` is unavailable) the handlers are the way in: the C-level
handler writes each signal's number to a non-blocking self-pipe (the wake-up fd), and the
loop reads the numbers from it. The handlers stay installed on Linux too, for a thread
that started before the signals were blocked. Nothing happens inside a handler: no
logging, locks, I/O or ``os.kill`` (STYLE.md, convention 2).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import struct
import sys
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

_SIGINFO_SIZE = 128  # struct signalfd_siginfo; its first field is the uint32 ssi_signo
_SIGNO = struct.Struct("I")


def open_signalfd(signums: Iterable[int]) -> int:
    """A non-blocking ``signalfd`` for ``signums`` (Linux), or -1 where there is none."""
    if not sys.platform.startswith("linux"):
        return -1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        mask = ctypes.create_string_buffer(128)  # sigset_t: 1024 bits in glibc and musl
        libc.sigemptyset(mask)
        for signum in signums:
            libc.sigaddset(mask, int(signum))
        fd = int(libc.signalfd(-1, mask, os.O_NONBLOCK | os.O_CLOEXEC))
    except (OSError, AttributeError):
        return -1
    return fd if fd >= 0 else -1


class SignalQueue:
    """Queue of received signals and the descriptors that wake the main loop."""

    def __init__(self) -> None:
        self.pending: deque[int] = deque()
        self._read_fd, self._write_fd = os.pipe()
        for fd in (self._read_fd, self._write_fd):
            os.set_blocking(fd, False)
        self._signal_fd = -1
        self._previous: dict[int, object] = {}
        self._previous_mask: set[int | signal.Signals] | None = None

    def install(self) -> None:
        """Install the handlers and the wake-up fd, then block the signals and read them
        from a signalfd where there is one (main thread only)."""
        signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        for signum in HANDLED:
            self._previous[signum] = signal.signal(signum, self._handler)
        self._signal_fd = open_signalfd(HANDLED)
        if self._signal_fd >= 0:
            self._previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        """The Python-level handler does nothing: the C-level one wrote to the pipe."""

    def wait(self, timeout: float, extra_fds: Iterable[int] = ()) -> list[int]:
        """Block up to ``timeout`` seconds for a signal or a readable ``extra_fds``;
        return the descriptors of ``extra_fds`` that are readable."""
        own = [fd for fd in (self._read_fd, self._signal_fd) if fd >= 0]
        if self.pending:
            timeout = 0.0
        try:
            readable, _, _ = select.select([*own, *extra_fds], [], [], max(0.0, timeout))
        except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for safety
            return []
        if any(fd in readable for fd in own):
            self._read()
        return [fd for fd in readable if fd not in own]

    def _read(self) -> None:
        """Move the signals waiting in the pipe and the signalfd to ``pending``."""
        self.pending.extend(_read_all(self._read_fd))
        if self._signal_fd >= 0:
            data = _read_all(self._signal_fd)
            for offset in range(0, len(data) - _SIGINFO_SIZE + 1, _SIGINFO_SIZE):
                self.pending.append(_SIGNO.unpack_from(data, offset)[0])

    def take(self) -> list[int]:
        """Every signal received since the last call, in the order they were read."""
        self._read()
        taken: list[int] = []
        while self.pending:
            taken.append(self.pending.popleft())
        return taken

    def restore(self) -> None:
        """Unblock the signals, put back the previous handlers and close the descriptors."""
        if self._previous_mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._previous_mask)
            self._previous_mask = None
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()
        signal.set_wakeup_fd(-1)
        self.close()

    def close(self) -> None:
        """Close the pipe and the signalfd (in a forked worker, or after restore)."""
        for fd in (self._read_fd, self._write_fd, self._signal_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._signal_fd = -1


def _read_all(fd: int) -> bytes:
    """Everything a non-blocking descriptor has to read now."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


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
