"""Many threads enqueueing at once (a threaded web application), us and the peers side by
side: ``perform_later`` / the peer's normal enqueue call, one job per call, from T
threads at once, for each T of ``--threads``.

Run by ``bench/peer/enqueue_threads.sh`` with the harness venv's python from the harness
copy (it uses the harness's adapters for storage reset and the peers' task objects).
Each (system, T) runs ``--runs`` times on fresh storage; a run enqueues ``-n`` jobs split
evenly over T threads that start together (a barrier; PgQueuer's per-thread event loop
and asyncpg connection are made before it) and reports n / wall. Prints the medians.

    rocketjob      SQLite (WAL, synchronous=full, the default), perform_later
    huey           SqliteHuey (WAL, synchronous=full), task call
    rocketjob-pg   PostgreSQL ($BENCH_PG_DSN), perform_later (the store's pool)
    pgqueuer       PostgreSQL, Queries.enqueue, one asyncpg connection per thread
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Enqueue = Callable[[int], None]


def _rocketjob(system: str) -> tuple[Any, Callable[[], Enqueue]]:
    sys_mod = importlib.import_module("systems.rocketjob_sys")
    adapter = sys_mod.Adapter(store="postgres" if system == "rocketjob-pg" else "sqlite")
    perform_later = sys_mod.BenchNoop.perform_later

    def per_thread() -> Enqueue:
        return lambda i: perform_later(i, time.time())

    return adapter, per_thread


def _huey(system: str) -> tuple[Any, Callable[[], Enqueue]]:
    mod = importlib.import_module("systems.huey_sys")

    def per_thread() -> Enqueue:
        return lambda i: mod.noop(i, time.time())

    return mod.Adapter(), per_thread


def _pgqueuer(system: str) -> tuple[Any, Callable[[], Enqueue]]:
    import asyncpg
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.queries import Queries

    mod = importlib.import_module("systems.pgqueuer_sys")
    dsn = importlib.import_module("jobcommon").PG_DSN

    def per_thread() -> Enqueue:
        loop = asyncio.new_event_loop()
        conn = loop.run_until_complete(asyncpg.connect(dsn))
        queries = Queries(AsyncpgDriver(conn))

        def enqueue(i: int) -> None:
            payload = b"%d %.6f" % (i, time.time())
            loop.run_until_complete(queries.enqueue("noop", payload))

        return enqueue

    return mod.Adapter(), per_thread


SYSTEMS = {"rocketjob": _rocketjob, "huey": _huey, "rocketjob-pg": _rocketjob,
           "pgqueuer": _pgqueuer}  # fmt: skip


def one_run(system: str, threads: int, n: int) -> float:
    """Enqueue n jobs from ``threads`` threads on fresh storage; jobs per second."""
    adapter, per_thread = SYSTEMS[system](system)
    adapter.setup()
    try:
        barrier = threading.Barrier(threads + 1)
        errors: list[BaseException] = []

        def work(first: int) -> None:
            try:
                enqueue = per_thread()
            except BaseException as exc:  # reported below
                errors.append(exc)
                barrier.abort()
                return
            barrier.wait()
            for i in range(first, n, threads):
                enqueue(i)

        pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for thread in pool:
            thread.start()
        barrier.wait()
        start = time.perf_counter()
        for thread in pool:
            thread.join()
        wall = time.perf_counter() - start
        if errors:
            raise errors[0]
        pending = adapter.pending()
        if pending not in (None, n):
            raise SystemExit(f"{system}: {pending} jobs queued, expected {n}")
        return n / wall
    finally:
        adapter.teardown()


def main() -> None:
    """Command line (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--systems", default="rocketjob,huey,rocketjob-pg,pgqueuer")
    ap.add_argument("--threads", default="1,4,8,16")
    ap.add_argument("-n", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=3)
    opts = ap.parse_args()
    systems = opts.systems.split(",")
    sizes = [int(t) for t in opts.threads.split(",")]
    load0 = Path("/proc/loadavg").read_text().split()[:3]
    got: dict[tuple[str, int], list[float]] = {}
    for run in range(opts.runs):  # interleaved: every system once per run
        for threads in sizes:
            for system in systems:
                rate = one_run(system, threads, opts.n)
                got.setdefault((system, threads), []).append(rate)
                print(f"run {run + 1} {system:<13} {threads:>2} threads {rate:>9,.0f} j/s",
                      flush=True)  # fmt: skip
    load1 = Path("/proc/loadavg").read_text().split()[:3]
    print(f"\nN = {opts.n} per run, medians of {opts.runs}; load average "
          f"{' '.join(load0)} -> {' '.join(load1)}\n")  # fmt: skip
    print("| system | " + " | ".join(f"{t} thread{'s' * (t > 1)} j/s" for t in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    med = {key: statistics.median(values) for key, values in got.items()}
    for system in systems:
        print(f"| {system} | " + " | ".join(f"{med[system, t]:,.0f}" for t in sizes) + " |")
    for ours, peer in (("rocketjob", "huey"), ("rocketjob-pg", "pgqueuer")):
        if ours in systems and peer in systems:
            ratios = " | ".join(f"{med[ours, t] / med[peer, t]:.2f}x" for t in sizes)
            print(f"| {ours} / {peer} | {ratios} |")


if __name__ == "__main__":
    main()
