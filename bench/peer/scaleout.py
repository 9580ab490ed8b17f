"""Scale-out: 1, 2, 4, 8 daemons draining 20 ms I/O jobs from PostgreSQL through
``bench/latency_proxy.py``, rocketjob against PgQueuer.

Run by ``bench/peer/scaleout.sh`` with the harness venv's python from the harness copy.
For each size D, run and system: fresh storage, ``-n`` x D jobs enqueued in bulk (chunks
of 1,000) and ANALYZEd, then D worker processes started at once: rocketjob D x
``rocketjob -c`` (one process, 10 threads each), PgQueuer D x ``pgqueuer.run()`` (its
defaults: batches of 10, no concurrency cap). Throughput is the steady state: jobs
started between the 10th and the 90th percentile of the start times, divided by that
window (start-up and tail excluded). Round trips per job come from the proxy over the
same window. Efficiency = throughput / (D x throughput at D = 1), medians of ``--runs``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path.cwd()))  # the harness copy: jobcommon, systems
from remote import _at, _series, wait_listening

RUN = Path.cwd() / "run"
STAMPS = RUN / "scaleout.stamps"


def _reset(system: str, dsn: str) -> None:
    from systems import base  # type: ignore[import-not-found]

    base.pg_reset(dsn)
    if system == "pgqueuer":
        base.run_quiet([base.bin_("pgq"), "--pg-dsn", dsn, "install"])


def _enqueue(system: str, dsn: str, n: int) -> None:
    now = time.time()
    if system == "rocketjob":
        from systems.scaleout_sys import IOJob  # type: ignore[import-not-found]

        import rocketjob

        rocketjob.disconnect()
        rocketjob.connect(dsn)
        for start in range(0, n, 1000):
            IOJob.perform_all_later([(i, now) for i in range(start, min(n, start + 1000))])
        rocketjob.disconnect()
        return

    async def go() -> None:
        import asyncpg
        from pgqueuer.db import AsyncpgDriver
        from pgqueuer.queries import Queries

        conn = await asyncpg.connect(dsn)
        queries = Queries(AsyncpgDriver(conn))
        for start in range(0, n, 1000):
            ids = range(start, min(n, start + 1000))
            payloads = [b"%d %.6f" % (i, now) for i in ids]
            await queries.enqueue(["io"] * len(payloads), payloads, [0] * len(payloads))
        await conn.close()

    asyncio.run(go())


def _commands(system: str, size: int, venv: str) -> list[list[str]]:
    if system == "rocketjob":
        config = RUN / "scaleout.toml"
        config.write_text(
            f'[store]\nurl = "{os.environ["BENCH_PG_DSN"]}"\n\n[supervisor]\nprocesses = 1\n'
            '\n[worker]\nthreads = 10\nimports = ["systems.scaleout_sys"]\n\n'
            '[logging]\nlevel = "warning"\n'
        )
        return [[f"{venv}/bin/rocketjob", "-c", str(config)] for _ in range(size)]
    code = (
        "import asyncio, logging, pgqueuer; logging.basicConfig(level=logging.WARNING); "
        "asyncio.run(pgqueuer.run('systems.scaleout_sys:pgq_main'))"
    )
    return [[sys.executable, "-c", code] for _ in range(size)]


def one(system: str, size: int, opts: argparse.Namespace) -> dict[str, float]:
    """One drain of n x size jobs by ``size`` workers through a fresh proxy."""
    stats = RUN / f"scaleout.{system}.{size}.jsonl"
    stats.unlink(missing_ok=True)
    STAMPS.unlink(missing_ok=True)
    proxy = subprocess.Popen(
        [opts.proxy_python, "-m", "bench.latency_proxy", "--listen", str(opts.port),
         "--target", opts.target, "--delay-ms", str(opts.delay_ms), "--stats", str(stats)],
        cwd=opts.root, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    dsn = f"postgresql://root@127.0.0.1:{opts.port}/{opts.db}"
    os.environ["BENCH_PG_DSN"] = dsn
    n = opts.n * size
    workers: list[subprocess.Popen[bytes]] = []
    try:
        wait_listening(opts.port)
        _reset(system, dsn)
        _enqueue(system, dsn, n)
        subprocess.run([sys.executable, "-c", f"import psycopg; psycopg.connect({dsn!r}, "
                        "autocommit=True).execute('ANALYZE')"], check=True)  # fmt: skip
        for cmd in _commands(system, size, opts.rocketjob_venv):
            workers.append(subprocess.Popen(cmd, start_new_session=True,
                                            stdout=subprocess.DEVNULL))  # fmt: skip
        deadline = time.time() + 300
        while (STAMPS.stat().st_size // 53 if STAMPS.exists() else 0) < n:
            if time.time() > deadline:
                raise SystemExit(f"{system} x {size}: drain timed out")
            time.sleep(0.1)
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        proxy.terminate()
        proxy.wait(10)
    starts = sorted(float(line.split()[2]) for line in STAMPS.read_text().splitlines())
    lo, hi = starts[len(starts) // 10], starts[len(starts) * 9 // 10]
    inside = sum(1 for t in starts if lo <= t <= hi)
    series = _series(stats)
    trips = _at(series, hi, "round_trips") - _at(series, lo, "round_trips")
    return {"jobs_per_s": inside / (hi - lo), "round_trips_per_job": trips / inside,
            "mean_delay_ms": series[-1]["mean_delay_ms"], "jobs": len(starts)}  # fmt: skip


def main() -> None:
    """Command line (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--systems", default="rocketjob,pgqueuer")
    ap.add_argument("--sizes", default="1,2,4,8")
    ap.add_argument("-n", type=int, default=1500, help="jobs per daemon (default 1500)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--delay-ms", type=float, default=0.5)
    ap.add_argument("--port", type=int, default=16545)
    ap.add_argument("--target", default="127.0.0.1:5432")
    ap.add_argument("--db", default="bench")
    ap.add_argument("--root", required=True)
    ap.add_argument("--proxy-python", required=True)
    ap.add_argument("--rocketjob-venv", required=True)
    opts = ap.parse_args()
    RUN.mkdir(exist_ok=True)
    os.environ["BENCH_STAMP_FILE"] = str(STAMPS)
    systems, sizes = opts.systems.split(","), [int(s) for s in opts.sizes.split(",")]
    load0 = Path("/proc/loadavg").read_text().split()[:3]
    got: dict[tuple[str, int], list[dict[str, float]]] = {}
    for run in range(opts.runs):
        for size in sizes:
            for system in systems:
                res = one(system, size, opts)
                got.setdefault((system, size), []).append(res)
                print(f"run {run + 1} {system:<9} x{size}: {res}", flush=True)
    load1 = Path("/proc/loadavg").read_text().split()[:3]
    print(f"\n20 ms I/O jobs, {opts.delay_ms} ms each way, medians of {opts.runs}; "
          f"load average {' '.join(load0)} -> {' '.join(load1)}\n")  # fmt: skip
    print("| system | daemons | drain j/s | efficiency | round trips per job | proxy delay ms |")
    print("|---|---:|---:|---:|---:|---:|")
    med: dict[tuple[str, int], dict[str, Any]] = {
        key: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        for key, runs in got.items()
    }
    for system in systems:
        base = med[system, sizes[0]]["jobs_per_s"] / sizes[0]
        for size in sizes:
            m = med[system, size]
            print(f"| {system} | {size} | {m['jobs_per_s']:,.0f} | "
                  f"{m['jobs_per_s'] / (size * base):.2f} | {m['round_trips_per_job']:.2f} | "
                  f"{m['mean_delay_ms']:.3f} |")  # fmt: skip
    (RUN / "scaleout.json").write_text(json.dumps({f"{k[0]}x{k[1]}": v for k, v in got.items()}))


if __name__ == "__main__":
    main()
