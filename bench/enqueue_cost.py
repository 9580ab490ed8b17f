"""Enqueue CPU per job, split between this client and the database server.

    .venv/bin/python -m bench.enqueue_cost --store mongodb://127.0.0.1:27018/rj_bench -n 500
    .venv/bin/python -m bench.enqueue_cost --store sqlite:////tmp/e.db -n 20000 --threads 8

``bin/bench`` reports the enqueue's CPU as one figure (client + server). This script
enqueues ``-n`` ``bench.jobs.NoopJob`` jobs with one ``perform_later`` each (from
``--threads`` threads at once: concurrent enqueues of a threaded app), then ``-n`` more
with ``perform_all_later`` (chunks of 1,000), and prints per phase: jobs/s, wall ms per
job, the client's CPU ms per job and the server's (the local process tree listening on
the URL's port, as ``bin/bench`` counts it; none for SQLite). The jobs it made are
destroyed at the end (only the ones it made: the store may be shared). A benchmark, not
a test.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
from collections.abc import Callable

import rocketjob
from bench import measure
from bench.jobs import NoopJob


def _phase(name: str, fn: Callable[[], None], n: int, server: measure.TreeCpu) -> None:
    s0, c0, t0 = server(), measure.self_cpu(), time.perf_counter()
    fn()
    t1, c1, s1 = time.perf_counter(), measure.self_cpu(), server()
    wall, ours, srv = t1 - t0, c1 - c0, s1 - s0
    print(
        f"{name:<8} {n / wall:>9,.0f} j/s   wall {1000 * wall / n:7.3f} ms/job   "
        f"ours {1000 * ours / n:6.3f} ms/job   server {1000 * srv / n:7.3f} ms/job"
    )


def main() -> None:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--store", required=True)
    ap.add_argument("-n", type=int, default=500)
    ap.add_argument(
        "--threads", type=int, default=1, help="enqueue the single phase from this many threads"
    )
    opts = ap.parse_args()
    rocketjob.connect(opts.store)
    server = measure.TreeCpu(measure.server_pids(opts.store))
    n = opts.n
    made: list[str] = []

    def single() -> None:
        def some(first: int) -> None:
            for i in range(first, n, opts.threads):
                made.append(NoopJob.perform_later(i).id)

        threads = [threading.Thread(target=some, args=(t,)) for t in range(opts.threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def bulk() -> None:
        for start in range(0, n, 1000):
            jobs = NoopJob.perform_all_later([(i,) for i in range(start, min(n, start + 1000))])
            made.extend(j.id for j in jobs)

    print(
        f"store {opts.store}, N = {n} per phase, single phase from {opts.threads} thread(s) "
        "(client = this process, server = port owner)"
    )
    try:
        _phase("single", single, n, server)
        _phase("bulk", bulk, n, server)
    finally:
        for job_id in made:
            with contextlib.suppress(rocketjob.JobNotFound):
                NoopJob.find(job_id).destroy()


if __name__ == "__main__":
    main()
