"""The 50 ms I/O job of ``bench/peer/async_io.py`` for PgQueuer and Procrastinate: ``await
asyncio.sleep(0.05)``, stamped at its start like every harness job."""

import asyncio
import importlib.util
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bench.stamps import stamp

IO_SECONDS = float(os.environ.get("ROCKETJOB_BENCH_IO", "0.05"))
DSN = os.environ.get("BENCH_PG_DSN", "postgresql://root@127.0.0.1:5432/bench_async")


@asynccontextmanager
async def pgq_main() -> AsyncIterator[Any]:
    """PgQueuer's worker factory (as the harness's pgqueuer_sys.main), with the I/O job."""
    import asyncpg
    from pgqueuer import PgQueuer
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.models import Job as PgJob

    conn = await asyncpg.connect(DSN)
    pgq = PgQueuer(AsyncpgDriver(conn))

    @pgq.entrypoint("io")
    async def io(job: PgJob) -> None:
        i, enq = (job.payload or b"0 0").split()
        stamp(int(i), float(enq))
        await asyncio.sleep(IO_SECONDS)

    try:
        yield pgq
    finally:
        await conn.close()


def _procrastinate_app() -> Any:
    """Procrastinate's app (psycopg 3 async connector, as the harness's procrastinate_sys)
    with the I/O job as task ``io`` on queue ``bench``."""
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=DSN))

    @app.task(name="io", queue="bench")
    async def io(i: int, enq_ts: float) -> None:
        stamp(i, enq_ts)
        await asyncio.sleep(IO_SECONDS)

    return app


#: ``procrastinate --app bench.peer.async_sys.procrastinate_app worker ...`` (None when
#: procrastinate is not installed in this python).
procrastinate_app = _procrastinate_app() if importlib.util.find_spec("procrastinate") else None
