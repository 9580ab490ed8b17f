"""The I/O job of ``bin/bench --async``: stamp the start, then wait ``$ROCKETJOB_BENCH_IO``
seconds (default 0.05) as I/O would, as a coroutine job and as a thread job."""

from __future__ import annotations

import asyncio
import os
import time

from bench.stamps import stamp
from rocketjob import Job

IO_SECONDS = float(os.environ.get("ROCKETJOB_BENCH_IO", "0.05"))


class AsyncIOJob(Job):
    """``await asyncio.sleep(0.05)``: runs on the worker's event loop."""

    async def perform(self, i: int, enq_ts: float) -> None:
        stamp(i, enq_ts)
        await asyncio.sleep(IO_SECONDS)


class ThreadIOJob(Job):
    """``time.sleep(0.05)``: the same wait on a job thread (the CPU comparison)."""

    def perform(self, i: int, enq_ts: float) -> None:
        stamp(i, enq_ts)
        time.sleep(IO_SECONDS)
