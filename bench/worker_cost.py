"""What a worker process costs: idle store queries and CPU, and memory over many jobs.

    .venv/bin/python -m bench.worker_cost idle [--store URL] [--seconds 60]
    .venv/bin/python -m bench.worker_cost memory [--store URL] [--jobs 100000]

A real :class:`rocketjob.worker.Worker` (10 threads, ``bench.jobs.NoopJob``) runs in this
process on a fresh store (a temp SQLite file by default). ``idle`` counts every store call
the worker makes through a counting proxy, and for SQLite every SQL statement its
connection runs (``sqlite3`` trace callback: also the ``PRAGMA data_version`` polls inside
``wait_for_jobs``), plus the process's CPU time, over ``--seconds`` of idling after a 5 s
settle. ``memory`` enqueues the jobs in chunks of 10,000, lets the worker drain each, and
prints the process RSS after boot and after every chunk (the enqueuer shares the process,
so each chunk's job objects are released before the RSS is read).
"""

from __future__ import annotations

import argparse
import gc
import os
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import psutil
from loguru import logger

import rocketjob
from rocketjob import config as config_module
from rocketjob import connection
from rocketjob.control import ServerCommand
from rocketjob.worker import Worker


class CountingStore:
    """Delegates to a store, counting calls per method name."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if not callable(value):
            return value

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return value(*args, **kwargs)

        return counted


def _start(url: str) -> tuple[Worker, CountingStore, Counter[str], threading.Thread]:
    logger.remove()  # loguru's default sink prints every job at DEBUG: warnings only
    logger.add(sys.stderr, level="WARNING")
    rocketjob.connect(url)
    proxy = CountingStore(connection.current_store())
    statements: Counter[str] = Counter()
    conn = getattr(proxy._store, "_conn", None)
    if isinstance(conn, sqlite3.Connection):
        conn.set_trace_callback(lambda sql: statements.update([sql.split(None, 2)[0].upper()]))
    connection.current_store = lambda: proxy
    config = config_module.from_dict({"worker": {"threads": 10, "imports": ["bench.jobs"]}})
    worker = Worker.boot(config, store=proxy)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    return worker, proxy, statements, thread


def _stop(worker: Worker, thread: threading.Thread) -> None:
    worker.request(ServerCommand.STOP)
    thread.join(30)
    connection.current_store = _CURRENT_STORE
    rocketjob.disconnect()


_CURRENT_STORE = connection.current_store


@dataclass
class IdleCost:
    """What an idle worker did over ``seconds``: store calls and (SQLite) SQL statements
    by name, and the process's CPU seconds."""

    seconds: float
    calls: dict[str, int]
    statements: dict[str, int]
    cpu_s: float

    @property
    def queries_per_s(self) -> float:
        """Store calls that query the database (claims, heartbeats and command checks,
        reaps): every call but ``wait_for_jobs``, which waits for a wake-up (SQLite: reads
        ``PRAGMA data_version`` from the shared WAL index; PostgreSQL: blocks on LISTEN)."""
        return sum(n for name, n in self.calls.items() if name != "wait_for_jobs") / self.seconds

    @property
    def cpu_percent(self) -> float:
        return 100 * self.cpu_s / self.seconds


def measure_idle(url: str, seconds: float) -> IdleCost:
    """Run an idle worker on ``url`` for ``seconds`` (after a 5 s settle) and count."""
    worker, proxy, statements, thread = _start(url)
    try:
        time.sleep(5.0)
        proxy.calls.clear()
        statements.clear()
        cpu0, t0 = sum(os.times()[:2]), time.monotonic()
        time.sleep(seconds)
        cpu, wall = sum(os.times()[:2]) - cpu0, time.monotonic() - t0
        return IdleCost(wall, dict(proxy.calls), dict(statements), cpu)
    finally:
        _stop(worker, thread)


def idle(url: str, seconds: float) -> IdleCost:
    """Print store calls/s, SQL statements/s and CPU % of an idle worker."""
    cost = measure_idle(url, seconds)
    wall = cost.seconds
    print(f"idle {wall:.0f} s: store calls {sum(cost.calls.values()) / wall:.2f}/s {cost.calls}")
    print(f"  store queries (all but wait_for_jobs) {cost.queries_per_s:.2f}/s")
    if cost.statements:
        print(f"  SQL statements {sum(cost.statements.values()) / wall:.2f}/s {cost.statements}")
    print(f"  CPU {cost.cpu_percent:.2f} % of one core ({cost.cpu_s:.2f} s)")
    return cost


def memory(url: str, jobs: int) -> list[tuple[int, float]]:
    """Print the RSS after boot and after each drained chunk of 10,000 jobs; return
    (jobs done, RSS MiB) pairs, the first after boot (0 jobs)."""
    from bench.jobs import enqueue_noops

    worker, _, _, thread = _start(url)
    try:
        process = psutil.Process()
        rss = [(0, process.memory_info().rss / 2**20)]
        print(f"after boot: RSS {rss[0][1]:.1f} MiB")
        done = 0
        while done < jobs:
            chunk = min(10_000, jobs - done)
            enqueue_noops(chunk)
            while rocketjob.Job.counts_by_state():
                time.sleep(0.05)
            done += chunk
            gc.collect()
            rss.append((done, process.memory_info().rss / 2**20))
            print(f"after {done:>7,} jobs: RSS {rss[-1][1]:.1f} MiB")
        return rss
    finally:
        _stop(worker, thread)


def main() -> None:
    """Command line: idle or memory."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=["idle", "memory"])
    parser.add_argument("--store", help="store URL (default: a fresh temp SQLite file)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--jobs", type=int, default=100_000)
    opts = parser.parse_args()
    url = opts.store or f"sqlite:///{tempfile.mkdtemp(prefix='rj-cost-')}/rocketjob.db"
    if opts.what == "idle":
        idle(url, opts.seconds)
    else:
        memory(url, opts.jobs)


if __name__ == "__main__":
    main()
