"""Enqueue from async code: ``aperform_later`` throughput and how long the caller's event
loop is held, on one store.

    .venv/bin/python -m bench.async_enqueue --store "postgresql://127.0.0.1/test?schema=ae" -n 2000
    .venv/bin/python -m bench.async_enqueue --store mongodb://127.0.0.1:27018/rj_ae -n 2000

In one ``asyncio.run``: ``-n`` enqueues one after another (``await`` each), then ``-n``
at once (``asyncio.gather``: the concurrent requests of a web application), while a
ticker task wakes every millisecond. Prints per phase: jobs/s, this process's CPU ms per
job, and the ticker's longest gap (how long the loop was held at a stretch: about 1 ms
when nothing blocks it). The jobs it made are destroyed at the end. A benchmark, not a
test.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

import rocketjob
from bench import measure
from bench.jobs import NoopJob


class Ticker:
    """Wakes every millisecond; records the longest gap between two wake-ups."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._last = time.perf_counter()

    def reset(self) -> None:
        self.longest, self._last = 0.0, time.perf_counter()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.longest = max(self.longest, now - self._last)
            self._last = now


async def _phase(name: str, fn: Callable[[], Awaitable[None]], n: int, ticker: Ticker) -> None:
    ticker.reset()
    c0, t0 = measure.self_cpu(), time.perf_counter()
    await fn()
    t1, c1 = time.perf_counter(), measure.self_cpu()
    print(
        f"{name:<10} {n / (t1 - t0):>9,.0f} j/s   ours {1000 * (c1 - c0) / n:6.3f} CPU ms/job   "
        f"loop held at most {1000 * ticker.longest:6.1f} ms"
    )


async def scenario(n: int) -> list[str]:
    ticker = Ticker()
    ticking = asyncio.create_task(ticker.run())
    ids: list[str] = []

    async def one_by_one() -> None:
        for i in range(n):
            ids.append((await NoopJob.aperform_later(i)).id or "")

    async def at_once() -> None:
        jobs = await asyncio.gather(*(NoopJob.aperform_later(i) for i in range(n)))
        ids.extend(job.id or "" for job in jobs)

    ids.append((await NoopJob.aperform_later(-1)).id or "")  # the loop's connection, once
    await _phase("sequential", one_by_one, n, ticker)
    await _phase("gather", at_once, n, ticker)
    ticking.cancel()
    return ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", required=True, help="store URL (its jobs are not touched)")
    ap.add_argument("-n", type=int, default=2000)
    opts = ap.parse_args()
    rocketjob.connect(opts.store)
    ids = asyncio.run(scenario(opts.n))
    for job_id in ids:
        NoopJob.find(job_id).destroy()
    rocketjob.disconnect()


if __name__ == "__main__":
    main()
