"""Job classes of the fault-containment tests (issue 16): poison, hanging, leaking and
busy jobs. Each writes ``start``/``done`` lines to a file (O_APPEND) so the test process
can see what ran where."""

from __future__ import annotations

import ctypes
import os
import signal
import time
from typing import ClassVar

from rocketjob import Job
from tests.integration.jobs import append_line

#: Memory a LeakJob keeps, per process (never freed: the leak).
LEAKED: list[bytes] = []


class QuickJob(Job):
    """Appends ``tag``: an ordinary job."""

    def perform(self, path: str, tag: str) -> None:
        append_line(path, f"done {tag} {os.getpid()}")


class PoisonJob(Job):
    """Kills its own process: ``os._exit`` (or a signal) in the middle of ``perform``."""

    def perform(self, path: str, tag: str, how: str = "exit") -> None:
        append_line(path, f"start {tag} {os.getpid()}")
        if how == "segv":
            ctypes.string_at(0)  # a real segfault
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if how == "break":  # an exception in the worker's own loop: the process dies of it
            from rocketjob import worker

            def broken(self: object) -> None:
                raise RuntimeError("the worker loop broke")

            for name in ("_periodic", "serve"):  # whichever the dispatcher loop calls
                if hasattr(worker.Worker, name):
                    setattr(worker.Worker, name, broken)
            time.sleep(5)  # the behaviour under test: a worker process that hangs
            return
        os._exit(17)


class SpinJob(Job):
    """Runs Python code for ``seconds`` (a soft timeout interrupts it)."""

    timeout: ClassVar[float | None] = 0.5

    def perform(self, path: str, tag: str, seconds: float) -> None:
        append_line(path, f"start {tag} {os.getpid()}")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            sum(range(100))
        append_line(path, f"done {tag} {os.getpid()}")


class HangJob(Job):
    """Blocks in one C call (``time.sleep``) that a soft timeout cannot interrupt."""

    timeout: ClassVar[float | None] = 0.5

    def perform(self, path: str, tag: str, seconds: float) -> None:
        append_line(path, f"start {tag} {os.getpid()}")
        time.sleep(seconds)  # the behaviour under test: one C call that takes time
        append_line(path, f"done {tag} {os.getpid()}")


class SleepyJob(Job):
    """Sleeps in short steps (an abort or a soft timeout interrupts it between them)."""

    def perform(self, path: str, tag: str, seconds: float) -> None:
        append_line(path, f"start {tag} {os.getpid()}")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.01)  # the behaviour under test: a job that takes time
        append_line(path, f"done {tag} {os.getpid()}")


class LeakJob(Job):
    """Keeps ``megabytes`` of memory for ever (a leak that recycling cures)."""

    def perform(self, path: str, tag: str, megabytes: int) -> None:
        LEAKED.append(os.urandom(1024) * (megabytes * 1024))
        append_line(path, f"done {tag} {os.getpid()}")
