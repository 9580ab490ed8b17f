"""A worker process's signal handlers: each only queues a request (STYLE §2).

The supervisor forwards its own signals (DESIGN §3); HUP, TTIN and TTOU belong to it and
are ignored here.
"""

from __future__ import annotations

import signal
from types import FrameType

from rocketjob.control import ServerCommand
from rocketjob.worker.commands import Controls, LocalRequest, Request


def install_signal_handlers(controls: Controls) -> None:
    """Install the worker's handlers (main thread only)."""
    handler = _SignalRequests(controls)
    for signum in (*_SIGNAL_REQUESTS, signal.SIGTSTP, signal.SIGCONT, signal.SIGINT):
        signal.signal(signum, handler)
    for signum in (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU):
        signal.signal(signum, signal.SIG_IGN)


class _SignalRequests:
    """The worker's signal handler: a first INT drains, a second stops now."""

    def __init__(self, controls: Controls) -> None:
        self.controls = controls
        self.interrupts = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.controls.request(self.request_for(signum))

    def request_for(self, signum: int) -> Request:
        """The request a signal makes."""
        if signum == signal.SIGINT:
            self.interrupts += 1
            return ServerCommand.STOP if self.interrupts == 1 else ServerCommand.KILL
        if signum in (signal.SIGTSTP, signal.SIGCONT):
            if self.controls.pause_flag is not None:
                return LocalRequest.PAUSE_FLAG
            return ServerCommand.PAUSE if signum == signal.SIGTSTP else ServerCommand.RESUME
        return _SIGNAL_REQUESTS[signum]


_SIGNAL_REQUESTS: dict[int, Request] = {
    signal.SIGTERM: ServerCommand.STOP,
    signal.SIGQUIT: ServerCommand.KILL,
    signal.SIGUSR1: LocalRequest.REOPEN_LOGS,
    signal.SIGUSR2: ServerCommand.THREAD_DUMP,
}
