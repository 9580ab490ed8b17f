"""Job classes run by real worker processes in the integration tests
(``imports = ["tests.integration.jobs"]``). Each writes to a file with O_APPEND, one
line per event, so the test process can count runs across processes."""

from __future__ import annotations

import os
import time

from rocketjob import Job


def append_line(path: str, line: str) -> None:
    """Append one line atomically (O_APPEND: concurrent writers never interleave)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


class AppendJob(Job):
    """Appends ``tag`` to ``path``: one line per run."""

    def perform(self, path: str, tag: str) -> None:
        append_line(path, tag)


class SleepJob(Job):
    """Appends ``start <tag> <pid>``, sleeps, then appends ``done <tag> <pid>``."""

    def perform(self, path: str, tag: str, seconds: float) -> None:
        append_line(path, f"start {tag} {os.getpid()}")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))  # a job taking time
        append_line(path, f"done {tag} {os.getpid()}")


class OtherJob(Job):
    """Like AppendJob, under another class name (include/exclude filters)."""

    def perform(self, path: str, tag: str) -> None:
        append_line(path, tag)


class SlowFirstJob(Job):
    """Sleeps ``seconds`` on its first run only (a later run, after its worker died,
    finishes at once): ``start``/``done`` lines as SleepJob."""

    def perform(self, path: str, tag: str, seconds: float) -> None:
        try:
            with open(path) as handle:
                seen = any(line.startswith(f"start {tag} ") for line in handle)
        except FileNotFoundError:
            seen = False
        SleepJob.perform_now(path, tag, 0.0 if seen else seconds)


class RequeueMarkJob(Job):
    """Like SlowFirstJob; its requeue callbacks append ``<callback> <tag> <pid>`` (the
    pid of the process that ran the callback) and count themselves in a custom field."""

    requeue_callbacks: int = 0

    def perform(self, path: str, tag: str, seconds: float) -> None:
        SlowFirstJob.perform_now(path, tag, seconds)

    def before_requeue(self) -> None:
        path, tag = self.arguments["args"][:2]
        append_line(path, f"before_requeue {tag} {os.getpid()} {self.state}")

    def after_requeue(self) -> None:
        path, tag = self.arguments["args"][:2]
        append_line(path, f"after_requeue {tag} {os.getpid()} {self.state}")
        self.save(requeue_callbacks=self.requeue_callbacks + 1)
