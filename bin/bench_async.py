"""Benchmark (not a test) of coroutine jobs: ``bin/bench --async``.

N jobs that each ``await asyncio.sleep(0.05)`` (bench/async_jobs.py) are bulk-enqueued,
then one ``rocketjob -c`` daemon with 2 worker processes and default settings (10 threads,
``async_concurrency`` 100) drains them. As in the peer harness: drain j/s = N / (last job
start - first job start) from the jobs' start stamps; CPU per 1,000 jobs = user+sys of the
daemon's process tree plus the database server's over that window. Each store is run
``--runs`` times on a fresh store; medians are printed. ``--kinds thread`` runs the same
wait as a thread job (``time.sleep``) for the CPU comparison (10 threads x 2 processes
cap it at 400 j/s). The load average is printed: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import rocketjob  # noqa: E402
from bench import daemon, measure, stores  # noqa: E402
from bench.async_jobs import AsyncIOJob, ThreadIOJob  # noqa: E402
from bench.stamps import STAMP_ENV, count_stamps, read_stamps  # noqa: E402

KINDS = {"async": AsyncIOJob, "thread": ThreadIOJob}
DEFAULT_PG = "postgresql://127.0.0.1/test"


def store_url(kind: str, workdir: Path, pg: str) -> tuple[str, str | None]:
    """A fresh store: a SQLite file, or a new PostgreSQL schema (returned to drop)."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}", None
    schema = f"bench_async_{uuid.uuid4().hex[:8]}"
    sep = "&" if "?" in pg else "?"
    return f"{pg}{sep}schema={schema}", schema


def drop_schema(pg: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@contextmanager
def profiling(out_dir: Path | None, pids: list[int]) -> Iterator[None]:
    """py-spy the daemon and its workers while the block runs (``--profile DIR``): raw
    collapsed stacks to ``DIR/async-<pid>.txt``, for ``python -m bench.profile_summary``."""
    if out_dir is None:
        yield
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    spy = str(Path(sys.executable).parent / "py-spy")  # the dev extra installs it
    procs = [subprocess.Popen([spy, "record", "--pid", str(pid), "--subprocesses", "--rate",
                               "250", "--format", "raw", "--nonblocking", "--output",
                               str(out_dir / f"async-{pid}.txt")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for pid in pids]  # fmt: skip
    try:
        yield
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        for proc in procs:
            proc.wait(30)


def run_once(
    store: str, kind: str, n: int, pg: str, profile: Path | None = None
) -> dict[str, float]:
    """Enqueue n jobs, drain them with 2 worker processes; the figures of the run."""
    workdir = Path(tempfile.mkdtemp(prefix="rocketjob-bench-async-"))
    url, schema = store_url(store, workdir, pg)
    stamps = workdir / "stamps"
    os.environ[STAMP_ENV] = str(stamps)
    try:
        rocketjob.connect(url)
        job = KINDS[kind]
        now = time.time()
        for start in range(0, n, 1000):
            job.perform_all_later([(i, now) for i in range(start, min(n, start + 1000))])
        rocketjob.disconnect()
        stores.analyze(url)
        config = daemon.write_config(workdir / "bench.toml", store_url=url, processes=2,
                                     threads=10, imports=["bench.async_jobs"])  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with daemon.Daemons(config, cwd=workdir, env=env, log_path=workdir / "d.log") as d:
            pids = d.start()
            cpu = measure.TreeCpu([*pids, *measure.server_pids(url)])
            with profiling(profile, pids):
                samples = watch(stamps, n, cpu)
        return figures(read_stamps(stamps), samples, n)
    finally:
        rocketjob.disconnect()
        if schema is not None:
            drop_schema(pg, schema)


def watch(stamps: Path, n: int, cpu: measure.TreeCpu) -> list[tuple[float, float]]:
    """CPU samples (wall time, cumulative CPU s) every 25 ms until n jobs started and
    the last one had time to finish."""
    samples = [(time.time(), cpu())]
    deadline = time.monotonic() + 600
    done_at: float | None = None
    while done_at is None or time.monotonic() < done_at + 0.5:
        if time.monotonic() > deadline:
            raise SystemExit(f"bin/bench --async: drain timed out at {count_stamps(stamps)}/{n}")
        time.sleep(0.025)
        samples.append((time.time(), cpu()))
        if done_at is None and count_stamps(stamps) >= n:
            done_at = time.monotonic()
    return samples


def figures(starts: list, samples: list[tuple[float, float]], n: int) -> dict[str, float]:
    """Drain j/s and CPU per 1,000 jobs over the first-to-last start window."""
    ids = {s.job for s in starts}
    if len(starts) != n or len(ids) != n:
        raise SystemExit(f"bin/bench --async: {len(starts)} starts of {len(ids)} ids, not {n}")
    first = min(s.started for s in starts)
    last = max(s.started for s in starts)
    used = measure.interpolate(samples, last) - measure.interpolate(samples, first)
    return {"drain_jps": n / (last - first), "cpu_per_1k": used * 1000 / n}


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (the machine may be shared)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bin/bench --async", description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=10_000, help="jobs per run (default 10000)")
    ap.add_argument("--runs", type=int, default=3, help="runs per store (default 3)")
    ap.add_argument("--stores", default="sqlite,postgres", help="sqlite,postgres")
    ap.add_argument("--kinds", default="async", help="async,thread (default async)")
    ap.add_argument(
        "--pg",
        default=os.environ.get("ROCKETJOB_BENCH_PG", DEFAULT_PG),
        help=f"PostgreSQL database for the postgres runs (default {DEFAULT_PG})",
    )
    ap.add_argument("--profile", type=Path, help="py-spy the daemon over the drain, to this folder")
    opts = ap.parse_args(argv)
    print(f"load average before: {load_average()}")
    print("| store | job | drain j/s (median) | CPU s per 1,000 jobs | runs (j/s) |")
    print("|---|---|---:|---:|---|")
    for store in opts.stores.split(","):
        for kind in opts.kinds.split(","):
            runs = [run_once(store, kind, opts.n, opts.pg, opts.profile) for _ in range(opts.runs)]
            jps = statistics.median(r["drain_jps"] for r in runs)
            cpu = statistics.median(r["cpu_per_1k"] for r in runs)
            each = ", ".join(f"{r['drain_jps']:,.0f}" for r in runs)
            print(f"| {store} | {kind} | {jps:,.0f} | {cpu:.3f} | {each} |", flush=True)
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
