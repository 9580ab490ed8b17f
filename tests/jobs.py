"""Job classes used by the tests (importable by worker processes as ``tests.jobs``)."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import rocketjob
from rocketjob import Job

#: Calls recorded by in-process jobs: (job_id, event).
EVENTS: list[tuple[str | None, str]] = []
EVENTS_LOCK = threading.Lock()


def record(job: Job, event: str) -> None:
    with EVENTS_LOCK:
        EVENTS.append((job.id, event))


class NoopJob(Job):
    def perform(self, *args: Any, **kwargs: Any) -> None:
        return None


class EchoJob(Job):
    collect_output = True

    def perform(self, *args: Any, **kwargs: Any) -> Any:
        return {"args": list(args), "kwargs": kwargs}


class CallbackJob(Job):
    destroy_on_complete = False

    def before_start(self) -> None:
        record(self, "before_start")

    def after_start(self) -> None:
        record(self, "after_start")

    def before_perform(self) -> None:
        record(self, "before_perform")

    def around_perform(self, perform: Any) -> Any:
        record(self, "around_before")
        result = perform()
        record(self, "around_after")
        return result

    def perform(self, fail: bool = False) -> None:
        record(self, "perform")
        if fail:
            raise KeyError("requested failure")

    def after_perform(self) -> None:
        record(self, "after_perform")

    def before_complete(self) -> None:
        record(self, "before_complete")

    def after_complete(self) -> None:
        record(self, "after_complete")

    def before_fail(self) -> None:
        record(self, "before_fail")

    def after_fail(self) -> None:
        record(self, "after_fail")

    def before_pause(self) -> None:
        record(self, "before_pause")

    def after_pause(self) -> None:
        record(self, "after_pause")


class FailJob(Job):
    destroy_on_complete = False

    def perform(self, message: str = "boom") -> None:
        raise ValueError(message)


class SleepJob(Job):
    def perform(self, seconds: float) -> None:
        time.sleep(seconds)  # the behaviour under test: a job that takes time


class AppendJob(Job):
    """Appends its id and pid to a file: counts how many times each job ran."""

    def perform(self, path: str, seconds: float = 0.0) -> None:
        if seconds:
            time.sleep(seconds)  # the behaviour under test: a job that takes time
        line = f"{self.id} {os.getpid()}\n".encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


class ProgressJob(Job):
    destroy_on_complete = False
    rows: int = 0
    tags: list = rocketjob.field(default_factory=list, user_editable=True)  # type: ignore[type-arg]

    def perform(self) -> None:
        self.save(percent_complete=50, rows=self.rows + 1)


class BadResultJob(Job):
    collect_output = True

    def perform(self) -> Any:
        return object()
