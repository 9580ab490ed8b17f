"""The control vocabulary of the runtime, defined once: remote commands and exit codes.

:class:`ServerCommand` is what ``rocketjob servers pause|resume|stop|kill|thread-dump``,
Mission Control's server buttons and :class:`rocketjob.Server` queue on a server document
(:meth:`rocketjob.store.Store.send_command`), and what the worker takes from its heartbeat.
Its values are the CLI's subcommand names and the strings stored, so nothing translates
between them. :class:`ExitCode` is the exit status of every ``rocketjob`` process (DESIGN
§5): the CLI, the supervisor and each worker process.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ServerCommand(StrEnum):
    """A remote-control request for one server (a worker process)."""

    #: Stop claiming jobs; running ones finish and the process stays.
    PAUSE = "pause"
    #: Claim jobs again.
    RESUME = "resume"
    #: Drain (as TERM): finish running jobs up to ``drain_timeout``, re-queue the rest, exit;
    #: the supervisor does not replace it.
    STOP = "stop"
    #: Stop now (as QUIT): running jobs are re-queued, not failed; not replaced.
    KILL = "kill"
    #: Log the stack of each of its threads (as USR2).
    THREAD_DUMP = "thread-dump"

    @classmethod
    def parse(cls, value: str) -> ServerCommand:
        """The command called ``value``; ValueError naming the valid ones otherwise."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(command.value for command in cls)
            raise ValueError(f"unknown server command {value!r}; use one of {names}") from None


class ExitCode(IntEnum):
    """Exit status of the ``rocketjob`` command, the supervisor and its worker processes."""

    OK = 0
    #: A command failed (no such server or job), or a worker process crashed.
    FAILURE = 1
    #: Bad usage or configuration.
    USAGE = 2
    #: A module of ``[worker] imports`` failed to import at boot.
    IMPORT = 3
    #: The store cannot be reached at start-up.
    STORE = 4
    #: A worker process that recycled itself (EX_TEMPFAIL: "try again", not a crash).
    RECYCLE = 75
    #: Interrupted (Ctrl-C) outside the daemon: 128 + SIGINT.
    INTERRUPTED = 130
    #: The output pipe was closed (``| head``), quietly: 128 + SIGPIPE.
    BROKEN_PIPE = 141


__all__ = ["ExitCode", "ServerCommand"]
