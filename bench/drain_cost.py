"""Where a drained job's CPU goes: the whole worker, or the store alone.

    .venv/bin/python -m bench.drain_cost worker [--store URL] [-n 20000] [--threads 10]
    .venv/bin/python -m bench.drain_cost store  [--store URL] [-n 20000] [--batch 10]

``worker``: a real :class:`rocketjob.worker.Worker` runs in this process on a queue of
``-n`` bulk-enqueued ``bench.jobs.NoopJob`` jobs; prints jobs/s, this process's CPU per job
(user and sys) and the voluntary context switches per job summed over its threads
(``/proc/self/task/*/status``), so the cost of moving jobs between threads shows apart
from the work. ``store``: no worker and no threads, one loop of ``finish_and_claim`` in
batches of ``--batch`` (claim, then each batch's outcomes and the next claim in one
call): the store's own cost per job, ours and (for a local PostgreSQL or MongoDB server)
the server's. Default store: a fresh temp SQLite file. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from typing import Any

import rocketjob
from bench.jobs import NoopJob, enqueue_noops
from bench.measure import TreeCpu, server_pids
from bench.stores import analyze
from rocketjob import config as config_module
from rocketjob import connection
from rocketjob.clock import utcnow
from rocketjob.control import ServerCommand
from rocketjob.store import Finish

CLASSES = ["bench.jobs.NoopJob"]


def _enqueue(url: str, n: int) -> Any:
    """Connect, enqueue ``n`` jobs and (not on SQLite) refresh the planner statistics,
    untimed, as bin/bench does: a claim planned without statistics is slow."""
    rocketjob.connect(url)
    store = connection.current_store()
    enqueue_noops(n)
    if not url.startswith("sqlite"):
        analyze(url)
    return store


def _switches() -> int:
    """Voluntary context switches of every thread of this process so far."""
    total = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/status") as status:
                for line in status:
                    if line.startswith("voluntary_ctxt_switches"):
                        total += int(line.split()[1])
        except FileNotFoundError:  # a thread that just ended
            continue
    return total


def worker(url: str, n: int, threads: int) -> None:
    """Drain ``n`` jobs with an in-process worker; print rate, CPU and switches per job."""
    from loguru import logger

    from rocketjob.worker import Worker

    logger.remove()  # the worker logs every completion at DEBUG
    _enqueue(url, n)
    config = config_module.from_dict({"worker": {"threads": threads, "imports": ["bench.jobs"]}})
    work = Worker.boot(config, store=rocketjob.current_store())
    times0, switches0, start = os.times(), _switches(), time.monotonic()
    thread = threading.Thread(target=work.run, daemon=True)
    thread.start()
    while NoopJob.counts_by_state().get("queued", 0) or NoopJob.counts_by_state().get("running"):
        time.sleep(0.1)
    wall, times1, switches = time.monotonic() - start, os.times(), _switches() - switches0
    work.request(ServerCommand.STOP)
    thread.join(30)
    user, system = times1.user - times0.user, times1.system - times0.system
    print(
        f"worker, {threads} threads, {n:,} jobs: {n / wall:,.0f} jobs/s; CPU per job "
        f"{(user + system) / n * 1e6:.0f} µs (user {user / n * 1e6:.0f}, sys "
        f"{system / n * 1e6:.0f}); {switches / n:.1f} voluntary context switches per job"
    )


def store(url: str, n: int, batch: int) -> None:
    """One thread: claim ``batch`` jobs, then finish_and_claim until the queue is empty."""
    db = _enqueue(url, n)  # every store has finish_and_claim (the Store protocol)
    server = TreeCpu(server_pids(url))
    names = [f"bench:1:{i}" for i in range(1, batch + 1)]
    server0, cpu0, start = server(), time.process_time(), time.monotonic()
    docs, done = db.claim_jobs(names, CLASSES, utcnow()), 0
    while docs:
        finished = [Finish(doc["id"], doc["worker_name"], destroy=True) for doc in docs]
        _, docs = db.finish_and_claim(
            finished, [doc["worker_name"] for doc in docs], CLASSES, utcnow()
        )
        done += len(finished)
    wall, ours, theirs = time.monotonic() - start, time.process_time() - cpu0, server() - server0
    line = f"store, batches of {batch}, {done:,} jobs: {done / wall:,.0f} jobs/s; our CPU "
    line += f"{ours / max(done, 1) * 1e6:.0f} µs per job"
    if server.roots:
        line += f", the database server's {theirs / max(done, 1) * 1e6:.0f} µs"
    print(line)


def main() -> None:
    """Command line: worker or store."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=["worker", "store"])
    parser.add_argument("--store", help="store URL (default: a fresh temp SQLite file)")
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=10)
    parser.add_argument("--batch", type=int, default=10)
    opts = parser.parse_args()
    url = opts.store or f"sqlite:///{tempfile.mkdtemp(prefix='rj-drain-')}/rocketjob.db"
    if opts.what == "worker":
        worker(url, opts.n, opts.threads)
    else:
        store(url, opts.n, opts.batch)


if __name__ == "__main__":
    main()
