"""PgQueuer and Procrastinate against rocketjob's coroutine jobs on the same 50 ms I/O job,
by the peer harness's method (``/work/shared/peer-bench``): N jobs enqueued in bulk and
ANALYZEd, 2 worker processes started at once (PgQueuer: 2 x ``pgqueuer.run()`` = ``pgq
run`` defaults; Procrastinate: 2 x ``procrastinate worker --concurrency 100``, its async
worker with as many coroutines per process as rocketjob's default slots (its default
concurrency of 1 would drain 2 / 0.05 = 40 j/s); rocketjob: one daemon, ``processes =
2``, default settings), drain j/s = N /
(last start - first start) from the jobs' start stamps, CPU per 1,000 jobs = worker
trees + the PostgreSQL server over that window. Medians of ``--runs``.

Run with a python that has pgqueuer, asyncpg and procrastinate (``bench/peer/async_io.sh``
makes one)
and rocketjob's tree on ``PYTHONPATH``; the database (default ``bench_async``) is reset.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import measure  # noqa: E402
from bench.stamps import STAMP_ENV, count_stamps, read_stamps  # noqa: E402


def reset(dsn: str, pgq: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")
    if pgq:
        subprocess.run([pgq, "--pg-dsn", dsn, "install"], check=True, capture_output=True)


def enqueue(system: str, dsn: str, n: int, rocketjob_python: str) -> None:
    now = time.time()
    if system == "rocketjob":
        code = (
            "import rocketjob; from bench.async_jobs import AsyncIOJob as J; "
            f"rocketjob.connect({dsn!r}); n = {n}\n"
            f"for s in range(0, n, 1000): J.perform_all_later([(i, {now}) "
            "for i in range(s, min(n, s + 1000))])"
        )
        subprocess.run([rocketjob_python, "-c", code], check=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
        return

    if system == "procrastinate":
        asyncio.run(_procrastinate_enqueue(n, now))
        return

    async def go() -> None:
        import asyncpg
        from pgqueuer.db import AsyncpgDriver
        from pgqueuer.queries import Queries

        conn = await asyncpg.connect(dsn)
        queries = Queries(AsyncpgDriver(conn))
        for start in range(0, n, 1000):
            payloads = [b"%d %.6f" % (i, now) for i in range(start, min(n, start + 1000))]
            await queries.enqueue(["io"] * len(payloads), payloads, [0] * len(payloads))
        await conn.close()

    asyncio.run(go())


async def _procrastinate_enqueue(n: int, now: float) -> None:
    """Procrastinate's schema, then its bulk enqueue (``batch_defer_async``) by 1,000."""
    from bench.peer.async_sys import procrastinate_app as app

    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        task = app.tasks["io"]
        for start in range(0, n, 1000):
            await task.batch_defer_async(
                *({"i": i, "enq_ts": now} for i in range(start, min(n, start + 1000)))
            )


def commands(system: str, dsn: str, workdir: Path, rocketjob_python: str) -> list[list[str]]:
    if system == "rocketjob":
        config = workdir / "async.toml"
        config.write_text(
            f'[store]\nurl = "{dsn}"\n\n[supervisor]\nprocesses = 2\n\n'
            '[worker]\nimports = ["bench.async_jobs"]\n\n[logging]\nlevel = "warning"\n'
        )
        return [[rocketjob_python, "-m", "rocketjob", "-c", str(config)]]
    if system == "procrastinate":
        command = [str(Path(sys.executable).parent / "procrastinate"), "--app",
                   "bench.peer.async_sys.procrastinate_app", "--log-level", "warning",
                   "worker", "--queues", "bench", "--concurrency", "100"]  # fmt: skip
        return [command, list(command)]
    code = (
        "import asyncio, logging, pgqueuer; logging.basicConfig(level=logging.WARNING); "
        "asyncio.run(pgqueuer.run('bench.peer.async_sys:pgq_main'))"
    )
    return [[sys.executable, "-c", code] for _ in range(2)]


def one(system: str, opts: argparse.Namespace) -> dict[str, float]:
    """One drain of ``opts.n`` jobs by 2 worker processes."""
    workdir = Path(tempfile.mkdtemp(prefix="async-io-"))
    stamps = workdir / "stamps"
    os.environ[STAMP_ENV] = str(stamps)
    os.environ["BENCH_PG_DSN"] = opts.dsn
    reset(opts.dsn, opts.pgq if system == "pgqueuer" else "")
    enqueue(system, opts.dsn, opts.n, opts.rocketjob_python)
    subprocess.run([sys.executable, "-c", f"import psycopg; psycopg.connect({opts.dsn!r}, "
                    "autocommit=True).execute('ANALYZE')"], check=True)  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [subprocess.Popen(cmd, start_new_session=True, cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL)
               for cmd in commands(system, opts.dsn, workdir, opts.rocketjob_python)]  # fmt: skip
    cpu = measure.TreeCpu([w.pid for w in workers] + measure.server_pids(opts.dsn))
    samples = [(time.time(), cpu())]
    try:
        deadline, done_at = time.monotonic() + 600, None
        while done_at is None or time.monotonic() < done_at + 0.5:
            if time.monotonic() > deadline:
                raise SystemExit(f"{system}: drain timed out")
            time.sleep(0.025)
            samples.append((time.time(), cpu()))
            if done_at is None and count_stamps(stamps) >= opts.n:
                done_at = time.monotonic()
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
    starts = sorted(s.started for s in read_stamps(stamps))
    first, last = starts[0], starts[-1]
    used = measure.interpolate(samples, last) - measure.interpolate(samples, first)
    return {"jps": len(starts) / (last - first), "cpu_per_1k": used * 1000 / len(starts)}


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (the machine may be shared)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--systems", default="pgqueuer,procrastinate,rocketjob")
    ap.add_argument("--dsn", default="postgresql://root@127.0.0.1:5432/bench_async")
    ap.add_argument("--pgq", default=str(Path(sys.executable).parent / "pgq"))
    ap.add_argument("--rocketjob-python", default=str(ROOT / ".venv/bin/python"))
    opts = ap.parse_args()
    print(f"load average before: {load_average()}")
    print("| system | drain j/s (median) | CPU s per 1,000 jobs | runs (j/s) |")
    print("|---|---:|---:|---|")
    for system in opts.systems.split(","):
        runs = [one(system, opts) for _ in range(opts.runs)]
        jps = statistics.median(r["jps"] for r in runs)
        cpu = statistics.median(r["cpu_per_1k"] for r in runs)
        each = ", ".join(f"{r['jps']:,.0f}" for r in runs)
        print(f"| {system} | {jps:,.0f} | {cpu:.3f} | {each} |", flush=True)
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
