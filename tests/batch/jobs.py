"""Batch job classes used by the batch tests (in-process workers and real daemons)."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

from rocketjob import BatchJob

#: (job id, event) of the before_batch / after_batch hooks run in this process.
EVENTS: list[tuple[str | None, str]] = []
_lock = threading.Lock()


class SquareJob(BatchJob):
    """Collects ``{"n": n, "square": n * n}`` per record (records are dicts or ints)."""

    slice_size = 10
    collect_output = True

    def before_batch(self) -> None:
        EVENTS.append((self.id, "before_batch"))

    def perform(self, record: Any) -> object:
        n = int(record["n"]) if isinstance(record, dict) else int(record)
        return {"n": n, "square": n * n}

    def after_batch(self) -> None:
        EVENTS.append((self.id, "after_batch"))


class PickyJob(BatchJob):
    """Fails on every record equal to ``bad`` (a custom field) until it is cleared."""

    slice_size = 4
    collect_output = True
    destroy_on_complete = False
    bad: int = 0
    marker: str = ""  # a file: when it exists, no record fails any more

    def perform(self, record: Any) -> object:
        n = int(record)
        if n == self.bad and not (self.marker and os.path.exists(self.marker)):
            raise ValueError(f"bad record {n}")
        return n


class CountingJob(BatchJob):
    """Appends ``pid record`` lines to the file named by its ``log`` field; sleeps
    ``pause`` seconds per record. Counts concurrent slices in ``peak``."""

    slice_size = 5
    log: str = ""
    pause: float = 0.0

    def perform(self, record: Any) -> object:
        with open(self.log, "a") as out:
            out.write(f"{os.getpid()} {record}\n")
        if self.pause:
            time.sleep(self.pause)  # the behaviour under test: a record that takes time
        return None


class ThrottledJob(BatchJob):
    """At most two slices of one job run at once; each record writes ``b time record``
    when it starts and ``e time record`` when it ends to the file ``log``."""

    slice_size = 2
    throttle_running_workers = 2
    log: str = ""

    def perform(self, record: Any) -> object:
        with _lock, open(self.log, "a") as out:
            out.write(f"b {time.time():.6f} {record}\n")
        time.sleep(0.02)  # the behaviour under test: a record that takes time
        with _lock, open(self.log, "a") as out:
            out.write(f"e {time.time():.6f} {record}\n")
        return None


class SlowRecordJob(BatchJob):
    """Sleeps ``record`` seconds (in short naps: JobTimeout lands between two); a slice
    may take 0.3 s."""

    slice_size = 3
    timeout = 0.3
    destroy_on_complete = False

    def perform(self, record: Any) -> object:
        deadline = time.monotonic() + float(record)
        while time.monotonic() < deadline:
            time.sleep(0.01)  # the behaviour under test: a record that takes time
        return None


class PoisonBatchJob(BatchJob):
    """Record ``poison`` kills its own worker process (``how``: ``exit`` is os._exit(17),
    ``kill`` a SIGKILL); record ``hang`` blocks in time.sleep (a C call no soft time
    limit interrupts). Every record appends ``pid record`` to the file ``log`` first."""

    slice_size = 5
    destroy_on_complete = False
    log: str = ""
    poison: int = -1
    hang: int = -1
    how: str = "exit"

    def perform(self, record: Any) -> object:
        with open(self.log, "a") as out:
            out.write(f"{os.getpid()} {record}\n")
        if record == self.poison:
            if self.how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            os._exit(17)
        if record == self.hang:
            time.sleep(30)  # the behaviour under test: a record stuck in a C call
        time.sleep(0.01)  # the behaviour under test: slices that overlap in time
        return None


class HangingBatchJob(PoisonBatchJob):
    """A PoisonBatchJob with a time limit of 0.5 s per slice."""

    timeout = 0.5
