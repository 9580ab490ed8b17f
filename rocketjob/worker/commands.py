"""What a worker is asked to do, and the state that follows: paused, stopping.

Requests come from two places: the worker's signal handlers, which only append one (STYLE
§2), and its heartbeat, which takes the :class:`~rocketjob.control.ServerCommand` values
queued on its server document. The dispatcher loop applies them between claims. A
request is one of the typed enums below; nothing is matched by string.
"""

from __future__ import annotations

import mmap
from collections import deque
from enum import StrEnum
from typing import Protocol

from rocketjob.control import ServerCommand
from rocketjob.log import logger


class LocalRequest(StrEnum):
    """Requests only this process's own signals make (never sent through the store)."""

    #: TSTP or CONT under a supervisor: take the pause state from its shared flag.
    PAUSE_FLAG = "pause-flag"
    #: USR1: reopen log files.
    REOPEN_LOGS = "reopen-logs"


#: Anything a worker can be asked: a remote command or a signal's local request.
Request = ServerCommand | LocalRequest


class Actions(Protocol):
    """What the requests that are actions ask of the worker."""

    def log_thread_dump(self) -> None:
        """Log the stack of each thread."""

    def reopen_logs(self) -> None:
        """Reopen log files."""


class Controls:
    """The worker's request queue and the state it drives.

    ``stopping`` is None while running, :attr:`ServerCommand.STOP` while draining and
    :attr:`ServerCommand.KILL` for a stop now (which may also arrive while draining).
    """

    def __init__(self, server_name: str, *, pause_flag: mmap.mmap | None = None) -> None:
        self.server_name = server_name
        # The supervisor's shared pause byte (None when run alone): TSTP and CONT pending
        # together are delivered lowest number first (CONT before TSTP), so a signal only
        # says "look at the flag", never which state to take.
        self.pause_flag = pause_flag
        self.requests: deque[Request] = deque()
        self.paused = bool(pause_flag is not None and pause_flag[0])
        self.stopping: ServerCommand | None = None

    def request(self, what: Request) -> None:
        """Queue a request (thread- and signal-safe: only appends)."""
        self.requests.append(what)

    def take(self, values: list[str]) -> None:
        """Queue the commands read from the server document; unknown ones are logged
        and dropped (a newer version may have sent them)."""
        for value in values:
            try:
                self.requests.append(ServerCommand.parse(value))
            except ValueError:
                logger.warning("unknown command ignored", command=value, server=self.server_name)

    @property
    def stop_now(self) -> bool:
        """True once a stop now was asked."""
        return self.stopping is ServerCommand.KILL

    @property
    def state(self) -> str:
        """The server document's ``state``: running, paused or stopping."""
        return "stopping" if self.stopping else ("paused" if self.paused else "running")

    def apply(self, actions: Actions) -> None:
        """Apply every queued request, oldest first."""
        while self.requests:
            self._apply(self.requests.popleft(), actions)

    def _apply(self, what: Request, actions: Actions) -> None:
        match what:
            case ServerCommand.STOP:
                self.stopping = self.stopping or ServerCommand.STOP
            case ServerCommand.KILL:
                self.stopping = ServerCommand.KILL
            case ServerCommand.PAUSE:
                self.paused = True
                logger.info("worker paused", server=self.server_name)
            case ServerCommand.RESUME:
                self.paused = False
                logger.info("worker resumed", server=self.server_name)
            case ServerCommand.THREAD_DUMP:
                actions.log_thread_dump()
            case LocalRequest.PAUSE_FLAG:
                flag = self.pause_flag
                paused = bool(flag[0]) if flag is not None else self.paused
                self._apply(ServerCommand.PAUSE if paused else ServerCommand.RESUME, actions)
            case LocalRequest.REOPEN_LOGS:
                actions.reopen_logs()
