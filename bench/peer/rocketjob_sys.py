"""rocketjob adapter for the peer harness (``shared/peer-bench``, copied to a scratch folder).

``bench/peer/run.sh`` drops this file into ``systems/`` of the copy and registers:

    rocketjob      SQLite file in run/, WAL, synchronous=FULL (the store's default)
    rocketjob-pg   PostgreSQL ($BENCH_PG_DSN, the harness's ``bench`` database)
    rocketjob-pg-stale  the same without the harness's ANALYZE before the drain: the jobs
                   table was created by setup() and never analyzed (stale statistics)

The harness process enqueues with rocketjob's normal API (``perform_later`` per job,
``perform_all_later`` per chunk for bulk): run.sh installs /work/main into the harness
venv (editable), so enqueue is in-process and charged to the driver like every peer's.
The daemon is the real ``rocketjob -c run/rocketjob.toml`` from the project's own venv
(``$ROCKETJOB_VENV``, default /work/main/.venv) with ``[supervisor] processes = 2`` (or two
one-process daemons where the supervisor does not exist yet), cwd = the harness folder, so
it imports this module (and jobcommon) through the inherited PYTHONPATH.
"""

import importlib.util
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jobcommon import PG_DSN, stamp  # type: ignore[import-not-found,unused-ignore]
from systems import base  # type: ignore[import-not-found,unused-ignore]

import rocketjob
from rocketjob import Job

ROCKETJOB_VENV = Path(os.environ.get("ROCKETJOB_VENV", "/work/main/.venv"))
DB = base.RUN / "rocketjob.db"
CONFIG = base.RUN / "rocketjob.toml"


class BenchNoop(Job):
    """The harness's no-op job: exactly the shared body."""

    def perform(self, i: int, enq_ts: float) -> None:
        stamp(i, enq_ts)


class Adapter(base.Adapter):
    name = "rocketjob"
    bulk_desc = "BenchNoop.perform_all_later(list) per chunk (one transaction)"
    stop_signal = signal.SIGTERM  # drain

    def __init__(
        self,
        store: str = "sqlite",
        processes: int = 2,
        threads: int = 10,
        synchronous: str | None = None,
        analyze: bool = True,
        **opts: Any,
    ) -> None:
        super().__init__(**opts)
        self.store, self.processes, self.threads = store, processes, threads
        self.analyze = analyze
        if store == "postgres":
            self.url = PG_DSN
            self.name = "rocketjob-pg" if analyze else "rocketjob-pg-stale"
            self.backend = "postgres" if analyze else "postgres, no ANALYZE before the drain"
        else:
            self.name = "rocketjob" if synchronous is None else f"rocketjob-{synchronous}"
            self.url = f"sqlite:///{DB}" + (f"?synchronous={synchronous}" if synchronous else "")
            self.backend = f"sqlite (WAL, synchronous={synchronous or 'full'})"
        self.supervisor = importlib.util.find_spec("rocketjob.supervisor") is not None
        how = (
            f"`rocketjob -c` with [supervisor] processes = {processes}"
            if self.supervisor
            else f"{processes} x `rocketjob -c` daemons"
        )
        self.worker_desc = f"{how}, {threads} threads each"

    def setup(self) -> None:
        rocketjob.disconnect()
        if self.store == "postgres":
            base.pg_reset(self.url)
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{DB}{suffix}").unlink(missing_ok=True)
        rocketjob.connect(self.url)  # creates the schema
        per_daemon = self.processes if self.supervisor else 1
        CONFIG.write_text(
            f'[store]\nurl = "{self.url}"\n\n'
            f"[supervisor]\nprocesses = {per_daemon}\ndrain_timeout = 10\n\n"
            f'[worker]\nthreads = {self.threads}\nimports = ["systems.rocketjob_sys"]\n\n'
            '[logging]\nlevel = "warning"\n'
        )

    def enqueue(self, ids: Iterable[int]) -> None:
        perform_later = BenchNoop.perform_later
        for i in ids:
            perform_later(i, time.time())

    def enqueue_bulk(self, ids: list[int]) -> None:
        now = time.time()
        BenchNoop.perform_all_later([(i, now) for i in ids])

    def before_drain(self) -> None:
        if self.store == "postgres" and self.analyze:
            base.pg_analyze(self.url)

    def worker_cmds(self) -> list[list[str]]:
        cmd = [str(ROCKETJOB_VENV / "bin" / "rocketjob"), "-c", str(CONFIG)]
        return [cmd] if self.supervisor else [list(cmd) for _ in range(self.processes)]

    def pending(self) -> int:
        return BenchNoop.counts_by_state().get("queued", 0)

    def broker_pids(self) -> list[int]:
        return base.pg_postmaster_pid(self.url) if self.store == "postgres" else []

    def teardown(self) -> None:
        rocketjob.disconnect()
