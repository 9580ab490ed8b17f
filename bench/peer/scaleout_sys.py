"""The 20 ms I/O job of ``bench/peer/scaleout.py``, for rocketjob and for PgQueuer
(copied into the harness copy's ``systems/`` by ``bench/peer/scaleout.sh``).

Each job waits ``BENCH_IO_SECONDS`` (default 0.02) as I/O would (a sleep; PgQueuer's
async job awaits it) and then writes the harness's stamp line.
"""

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from jobcommon import PG_DSN, stamp  # type: ignore[import-not-found,unused-ignore]

from rocketjob import Job

IO_SECONDS = float(os.environ.get("BENCH_IO_SECONDS", "0.02"))


class IOJob(Job):
    """Waits on "I/O", then stamps."""

    def perform(self, i: int, enq_ts: float) -> None:
        time.sleep(IO_SECONDS)
        stamp(i, enq_ts)


@asynccontextmanager
async def pgq_main() -> AsyncIterator[Any]:
    """PgQueuer's worker factory (as the harness's pgqueuer_sys.main), with the I/O job."""
    import asyncpg
    from pgqueuer import PgQueuer
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.models import Job as PgJob

    conn = await asyncpg.connect(PG_DSN)
    pgq = PgQueuer(AsyncpgDriver(conn))

    @pgq.entrypoint("io")
    async def io(job: PgJob) -> None:
        i, enq = (job.payload or b"0 0").split()
        await asyncio.sleep(IO_SECONDS)
        stamp(int(i), float(enq))

    try:
        yield pgq
    finally:
        await conn.close()
