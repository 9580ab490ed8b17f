"""Job classes of the behaviour tests (importable by worker processes as
``tests.plugins.jobs``). Jobs that record what they did append one line to a file."""

from __future__ import annotations

import os
import time
from typing import Any

from rocketjob import Job
from tests.support import wait_until


def append(path: str, line: str) -> None:
    """Append one line atomically (O_APPEND), from any process."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


class FlakyJob(Job):
    """Fails until its file holds ``succeed_after`` lines; retried at once."""

    retry_limit = 2
    destroy_on_complete = False

    def retry_delay(self, attempt: int) -> float:
        return 0.0

    def perform(self, path: str, succeed_after: int = 99) -> None:
        append(path, f"{self.id} {os.getpid()}")
        with open(path) as handle:
            runs = len(handle.readlines())
        if runs < succeed_after:
            raise RuntimeError(f"attempt {runs} failed")


class CustomRetryJob(Job):
    """Retries itself from after_fail, once, one hour later."""

    destroy_on_complete = False

    def perform(self) -> None:
        raise ValueError("nope")

    def after_fail(self) -> None:
        if self.failure_count == 1:
            self.retry(run_at=self.completed_at.replace(year=self.completed_at.year + 1))  # type: ignore[union-attr]


class LonelyJob(Job):
    """A singleton."""

    singleton = True

    def perform(self, seconds: float = 0.0) -> None:
        time.sleep(seconds)  # the behaviour under test: a job that takes time


class TickJob(Job):
    """A cron job: every minute."""

    cron_schedule = "* * * * *"
    destroy_on_complete = False
    path: str = ""

    def perform(self) -> None:
        if self.path:
            append(self.path, str(self.id))


class NarrowJob(Job):
    """At most 2 running at once; records its run interval."""

    throttle_running_jobs = 2

    def perform(self, path: str, seconds: float = 0.3) -> None:
        start = time.time()
        time.sleep(seconds)  # the behaviour under test: a job that takes time
        append(path, f"narrow {start} {time.time()} {os.getpid()}")


class GroupAJob(Job):
    """Group ``io``: at most 3 of GroupAJob and GroupBJob running at once."""

    throttle_group = "io"
    throttle_group_limit = 3

    def perform(self, path: str, seconds: float = 0.3) -> None:
        start = time.time()
        time.sleep(seconds)  # the behaviour under test: a job that takes time
        append(path, f"group {start} {time.time()} {os.getpid()}")


class GroupBJob(GroupAJob):
    """The other class of group ``io``."""


class NightJob(Job):
    """Runs only between 02:00 and 03:00 UTC."""

    processing_window = ("0 2 * * * UTC", 3600)
    destroy_on_complete = False

    def perform(self) -> None:
        return None


class UploadJob(Job):
    """Started by dirmon: one per file."""

    destroy_on_complete = False
    upload_file_name: str = ""
    tag: str = ""

    def perform(self) -> Any:
        return None


def enqueue_lonely(url: str, start_at: float) -> bool:
    """In another process: at the common start, enqueue a LonelyJob; True if stored."""
    import rocketjob
    from rocketjob import DuplicateJob

    rocketjob.connect(url)
    try:
        wait_until(lambda: time.time() >= start_at, timeout=60, interval=0.001)  # common start
        LonelyJob.perform_later()
        return True
    except DuplicateJob:
        return False
    finally:
        rocketjob.disconnect()
