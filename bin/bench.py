"""bin/bench: how fast rocketjob enqueues, drains and picks up no-op jobs on a store.

A benchmark, not a test. Per run, on a fresh store (a temp SQLite file by default):

  a. enqueue N jobs, one ``perform_later`` call each, no daemon running     (enqueue j/s)
  b. bulk-enqueue N more with ``perform_all_later``, chunks of 1,000          (bulk j/s)
  c. start a real ``rocketjob -c <generated toml>`` daemon and let it drain the 2N jobs:
     drain j/s = 2N / (last job start - first job start), from the start stamps the jobs
     write themselves, so daemon start-up is excluded (shown as start-up s)
  d. 1 s later, 200 jobs at 50/s into the idle daemon: pickup latency = job start -
     enqueue time taken just before the ``perform_later`` call (p50/p99)

CPU s per 1,000 jobs = (enqueuer CPU during a + database server CPU during a) / N +
(daemon process tree CPU + database server CPU over the drain window) / 2N, times 1,000.
The database server is the local process listening on the store URL's port (the
PostgreSQL postmaster and all its backends; the MongoDB server); SQLite has none.
Every job must start exactly once (checked from the stamps); the store must end empty.

  bin/bench                                   # temp SQLite, N=10000, 1 process x 10 threads, 3 runs
  bin/bench -n 2000 --runs 1 --threads 4
  bin/bench --sqlite-options synchronous=normal
  bin/bench --store postgresql://root@127.0.0.1:5432/test --processes 2
  bin/bench --profile /tmp/prof               # py-spy the daemon over the drain

``--report`` prints every figure of the performance targets for one store (docs/performance.md):
the figures above with 2 processes x 10 threads (the peer harness's set-up), the drain
at each ``--scaling`` size, an idle worker's store queries and CPU (``--idle-seconds``) and
a worker's RSS over ``--memory-jobs`` jobs (the last two from :mod:`bench.worker_cost`):

  bin/bench --report                          # temp SQLite, about 4 minutes
  bin/bench --report --store postgresql://root@127.0.0.1:5432/test
  bin/bench --report -n 1000 --runs 1 --scaling 1x1,2x4 --idle-seconds 10 --memory-jobs 20000
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import rocketjob  # noqa: E402
from bench import daemon, measure, stores, worker_cost  # noqa: E402
from bench.jobs import StampJob  # noqa: E402
from bench.stamps import STAMP_ENV, Stamp, count_stamps, read_stamps  # noqa: E402

BULK_CHUNK = 1000
TRICKLE_BASE = 90_000_000
SAMPLE_SECONDS = 0.025


@dataclass
class Options:
    """What one run measures."""

    store: str | None
    sqlite_options: str
    n: int
    processes: int
    threads: int
    trickle_n: int
    trickle_rate: float
    idle_before_trickle: float
    profile: Path | None
    keep: bool
    analyze: str
    profile_gil: bool


@dataclass
class RunResult:
    """The figures of one run."""

    figures: dict[str, float | None] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- phases
def enqueue_single(n: int) -> None:
    """One perform_later call per job, sequential, with the enqueue time as argument."""
    perform_later = StampJob.perform_later
    now = time.time
    for i in range(n):
        perform_later(i, now())


def enqueue_bulk(first: int, n: int) -> None:
    """perform_all_later in chunks of BULK_CHUNK."""
    for start in range(first, first + n, BULK_CHUNK):
        now = time.time()
        StampJob.perform_all_later(
            [(i, now) for i in range(start, min(start + BULK_CHUNK, first + n))]
        )


def timed(fn: Any, *args: Any, server: measure.TreeCpu) -> tuple[float, float, float]:
    """Run fn(*args); return (wall s, this process's CPU s, database server CPU s)."""
    s0, c0, t0 = server(), measure.self_cpu(), time.perf_counter()
    fn(*args)
    t1, c1, s1 = time.perf_counter(), measure.self_cpu(), server()
    return t1 - t0, c1 - c0, s1 - s0


def queued_count() -> int:
    """Jobs of the benchmark class in the store, any state."""
    return sum(StampJob.counts_by_state().values())


def wait_for_stamps(
    path: Path, total: int, daemons: daemon.Daemons, timeout: float, sample: Any = None
) -> None:
    """Wait until ``total`` stamps exist; call ``sample()`` every tick; raise on a dead
    daemon or past ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if sample is not None:
            sample()
        done = count_stamps(path)
        if done >= total:
            return
        if not daemons.alive():
            raise RuntimeError(f"daemon exited ({daemons.exit_codes()}) with {done}/{total} run")
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {done}/{total} jobs ran within {timeout:.0f} s")
        time.sleep(SAMPLE_SECONDS)


def drain(
    opts: Options, stamps: Path, daemons: daemon.Daemons, server: measure.TreeCpu, total: int
) -> dict[str, float]:
    """Start the daemons and wait for ``total`` stamps; drain figures from the stamps,
    CPU interpolated at the first and last job start."""
    t_spawn = time.time()
    pids = daemons.start()
    tree = measure.TreeCpu(pids)
    samples: list[tuple[float, float, float]] = []

    def sample() -> None:
        samples.append((time.time(), tree(), server()))

    with profiling(opts.profile, pids, opts.profile_gil):
        wait_for_stamps(stamps, total, daemons, 120 + total / 200, sample)
        time.sleep(SAMPLE_SECONDS)
        sample()
    starts = [s.started for s in read_stamps(stamps)]
    first, last = min(starts), max(starts)
    cpu_w = [(t, w) for t, w, _ in samples]
    cpu_s = [(t, s) for t, _, s in samples]
    worker_cpu = measure.interpolate(cpu_w, last) - measure.interpolate(cpu_w, first)
    server_cpu = measure.interpolate(cpu_s, last) - measure.interpolate(cpu_s, first)
    return {
        "drain_jps": total / (last - first),
        "startup_s": first - t_spawn,
        "drain_cpu_s": worker_cpu + server_cpu,
        "drain_server_cpu_s": server_cpu,
        "procs_seen": tree.max_procs,
    }


def trickle(opts: Options, stamps: Path, daemons: daemon.Daemons) -> dict[str, float | None]:
    """Send ``trickle_n`` jobs at ``trickle_rate``/s into the running, idle daemons."""
    base = count_stamps(stamps)
    t0 = time.time() + 0.05
    for k in range(opts.trickle_n):
        delay = t0 + k / opts.trickle_rate - time.time()
        if delay > 0:
            time.sleep(delay)
        StampJob.perform_later(TRICKLE_BASE + k, time.time())
    wait_for_stamps(stamps, base + opts.trickle_n, daemons, 30)
    lat = [
        (s.started - s.enqueued) * 1000
        for s in read_stamps(stamps)
        if TRICKLE_BASE <= s.job < TRICKLE_BASE + opts.trickle_n
    ]
    return {
        "pickup_p50_ms": measure.percentile(lat, 0.50),
        "pickup_p90_ms": measure.percentile(lat, 0.90),
        "pickup_p99_ms": measure.percentile(lat, 0.99),
        "pickup_max_ms": max(lat) if lat else None,
    }


def check_exactly_once(stamps: list[Stamp], expected: set[int]) -> list[str]:
    """Problems with the stamps: jobs run twice, missing, or unexpected."""
    ids = [s.job for s in stamps]
    seen = set(ids)
    problems = []
    if len(ids) != len(seen):
        problems.append(f"{len(ids) - len(seen)} jobs ran more than once")
    if expected - seen:
        problems.append(f"{len(expected - seen)} jobs never ran")
    if seen - expected:
        problems.append(f"{len(seen - expected)} unexpected jobs ran")
    return problems


def wait_store_empty(timeout: float = 10.0) -> int:
    """Wait for the completed jobs' deletes to land; return how many jobs are left."""
    deadline = time.monotonic() + timeout
    while (left := queued_count()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@contextlib.contextmanager
def profiling(out_dir: Path | None, pids: list[int], gil: bool = False) -> Iterator[None]:
    """py-spy every daemon (and its forked workers) while the block runs; raw collapsed
    stacks go to ``out_dir/drain-<pid>.txt``. py-spy counts threads blocked on a lock as
    busy, so waits show up; ``gil`` samples only the thread holding the GIL (Python CPU,
    without the C work that releases it, such as SQLite's)."""
    if out_dir is None:
        yield
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    spy = str(Path(sys.executable).parent / "py-spy")  # the dev extra installs it
    procs = [
        subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(pid),
                "--subprocesses",
                "--rate",
                "250",
                "--format",
                "raw",
                "--nonblocking",  # do not pause the daemon per sample: far less distortion
                *(["--gil"] if gil else []),
                "--output",
                str(out_dir / f"drain-{pid}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]
    try:
        yield
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


# ----------------------------------------------------------------------------- one run
def store_url(opts: Options, workdir: Path) -> str:
    """The URL of this run's store: the given one, or a fresh temp SQLite file."""
    if opts.store:
        return opts.store
    url = f"sqlite:///{workdir}/bench.db"
    return f"{url}?{opts.sqlite_options}" if opts.sqlite_options else url


def wants_analyze(choice: str, url: str) -> bool:
    """Whether to ANALYZE before the drain: ``auto`` does it for PostgreSQL only, as the
    peer harness does for its PostgreSQL systems."""
    if choice == "auto":
        return url.startswith(("postgresql:", "postgres:"))
    return choice == "yes"


def launch_plan(processes: int) -> tuple[int, int]:
    """(daemons to start, [supervisor] processes each): one supervisor forking P
    workers once it exists, else P single-process daemons."""
    if processes == 1 or daemon.has_supervisor():
        return 1, processes
    return processes, 1


def run_once(opts: Options) -> RunResult:
    """One full run on a fresh store; daemons are always stopped, even on error."""
    workdir = Path(tempfile.mkdtemp(prefix="rocketjob-bench-"))
    try:
        return _run_in(opts, workdir)
    finally:
        rocketjob.disconnect()
        if not opts.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _run_in(opts: Options, workdir: Path) -> RunResult:
    res = RunResult()
    url = store_url(opts, workdir)
    stamps = workdir / "stamps"
    os.environ[STAMP_ENV] = str(stamps)
    rocketjob.connect(url)
    if queued_count():
        raise SystemExit(
            f"bin/bench: {url} already holds {StampJob.__name__} jobs; use an empty store"
        )
    server = measure.TreeCpu(measure.server_pids(url))
    n = opts.n

    wall, cpu, srv = timed(enqueue_single, n, server=server)
    res.figures |= {"enqueue_jps": n / wall, "enqueue_cpu_s": cpu + srv}
    wall, cpu, srv = timed(enqueue_bulk, n, n, server=server)
    res.figures |= {"bulk_jps": n / wall, "bulk_cpu_per_1k": (cpu + srv) * 1000 / n}
    if (queued := queued_count()) != 2 * n:
        res.checks.append(f"store holds {queued} jobs after enqueue, not {2 * n}")

    if wants_analyze(opts.analyze, url):
        res.info["analyzed"] = stores.analyze(url)
    count, per_daemon = launch_plan(opts.processes)
    config = daemon.write_config(
        workdir / "bench.toml", store_url=url, processes=per_daemon,
        threads=opts.threads, imports=["bench.jobs"],
    )  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    res.info |= {
        "store": url,
        "daemons": count,
        "processes_each": per_daemon,
        "threads": opts.threads,
    }
    with daemon.Daemons(
        config, count=count, cwd=workdir, env=env, log_path=workdir / "daemon.log"
    ) as daemons:
        d = drain(opts, stamps, daemons, server, 2 * n)
        res.info["procs_seen"] = d.pop("procs_seen")
        time.sleep(opts.idle_before_trickle)
        res.figures |= d | trickle(opts, stamps, daemons)
        left = wait_store_empty()
        graceful = daemons.stop()
    cpu_total = res.figures["enqueue_cpu_s"] / n + d["drain_cpu_s"] / (2 * n)  # type: ignore[operator]
    res.figures["cpu_per_1k"] = cpu_total * 1000
    res.figures["drain_cpu_per_1k"] = d["drain_cpu_s"] * 1000 / (2 * n)
    expected = set(range(2 * n)) | set(range(TRICKLE_BASE, TRICKLE_BASE + opts.trickle_n))
    res.checks += check_exactly_once(read_stamps(stamps), expected)
    if left:
        res.checks.append(f"{left} jobs left in the store after the run")
    if not graceful:
        res.checks.append("daemon did not stop on SIGTERM within 15 s (killed)")
    if opts.keep:
        res.info["workdir"] = str(workdir)
    return res


# ----------------------------------------------------------------------------- report
ROWS: list[tuple[str, str, str]] = [
    ("enqueue_jps", "enqueue (perform_later) j/s", "{:,.0f}"),
    ("bulk_jps", "bulk enqueue (perform_all_later) j/s", "{:,.0f}"),
    ("drain_jps", "drain j/s", "{:,.0f}"),
    ("startup_s", "daemon start to first job s", "{:.2f}"),
    ("cpu_per_1k", "CPU s per 1k jobs (enqueue + drain)", "{:.3f}"),
    ("drain_cpu_per_1k", "  of which drain (daemon + db server)", "{:.3f}"),
    ("bulk_cpu_per_1k", "bulk enqueue CPU s per 1k", "{:.3f}"),
    ("pickup_p50_ms", "pickup p50 ms", "{:.1f}"),
    ("pickup_p90_ms", "pickup p90 ms", "{:.1f}"),
    ("pickup_p99_ms", "pickup p99 ms", "{:.1f}"),
    ("pickup_max_ms", "pickup max ms", "{:.1f}"),
]


def fmt(spec: str, value: float | None) -> str:
    """A figure for the table ("-" when missing)."""
    return "-" if value is None else spec.format(value)


def print_table(results: list[RunResult], first: int = 1, out: Any = sys.stdout) -> None:
    """One column per run (numbered from ``first``), plus the median when there are
    several."""
    heads = [f"run {first + k}" for k in range(len(results))]
    heads += ["median"] if len(results) > 1 else []
    width = max(len(label) for _, label, _ in ROWS)
    print(f"{'':{width}}  " + "  ".join(f"{h:>9}" for h in heads), file=out)
    for key, label, spec in ROWS:
        values = [r.figures.get(key) for r in results]
        cells = [fmt(spec, v) for v in values]
        if len(results) > 1:
            present = [v for v in values if v is not None]
            cells.append(fmt(spec, statistics.median(present) if present else None))
        print(f"{label:{width}}  " + "  ".join(f"{c:>9}" for c in cells), file=out)
    checks = [c for r in results for c in r.checks]
    verdict = "FAILED: " + "; ".join(checks) if checks else "ok"
    print(f"{'exactly once, store empty':{width}}  {verdict}", file=out)


def medians(results: list[RunResult]) -> dict[str, float | None]:
    """The median of every figure over the runs."""
    out: dict[str, float | None] = {}
    for key, _, _ in ROWS:
        present = [v for r in results if (v := r.figures.get(key)) is not None]
        out[key] = statistics.median(present) if present else None
    return out


# ----------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> tuple[Options, argparse.Namespace]:
    """Command-line options."""
    ap = argparse.ArgumentParser(
        prog="bin/bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--store", help="store URL (default: a fresh temp SQLite file per run)")
    ap.add_argument(
        "--sqlite-options",
        default="",
        help="query string for the temp SQLite URL, e.g. synchronous=normal",
    )
    ap.add_argument("-n", type=int, default=10_000, help="jobs per enqueue phase (default 10000)")
    ap.add_argument("--processes", type=int, help="worker processes (default 1; 2 with --report)")
    ap.add_argument(
        "--threads", type=int, default=10, help="threads per worker process (default 10)"
    )
    ap.add_argument("--runs", type=int, default=3, help="runs; the median is printed (default 3)")
    ap.add_argument("--trickle-n", type=int, default=200)
    ap.add_argument("--trickle-rate", type=float, default=50.0)
    ap.add_argument("--idle-before-trickle", type=float, default=1.0)
    ap.add_argument(
        "--profile", type=Path, help="py-spy the daemon over the drain; raw stacks to this folder"
    )
    ap.add_argument("--profile-gil", action="store_true", help="profile only the GIL holder")
    ap.add_argument(
        "--analyze",
        choices=("auto", "yes", "no"),
        default="auto",
        help="untimed ANALYZE before the drain (auto: PostgreSQL only, like the peer harness)",
    )
    ap.add_argument("--json", type=Path, help="also write every run and the medians here")
    ap.add_argument(
        "--keep", action="store_true", help="keep each run's temp folder (db, stamps, daemon log)"
    )
    ap.add_argument(
        "--report",
        action="store_true",
        help="every target figure: throughput, scaling, idle cost and memory (see above)",
    )
    ap.add_argument(
        "--scaling",
        default="1x1,1x4,1x10,1x25,2x10",
        help="with --report: PROCESSESxTHREADS sizes to drain with (default %(default)s)",
    )
    ap.add_argument(
        "--idle-seconds", type=float, default=60.0, help="with --report: idle sample (default 60)"
    )
    ap.add_argument(
        "--memory-jobs", type=int, default=100_000, help="with --report: jobs (default 100000)"
    )
    a = ap.parse_args(argv)
    if a.processes is None:
        a.processes = 2 if a.report else 1
    if a.n < 1 or a.processes < 1 or a.threads < 1 or a.runs < 1:
        ap.error("-n, --processes, --threads and --runs must be at least 1")
    try:
        a.scaling_sizes = parse_sizes(a.scaling)
    except ValueError as exc:
        ap.error(f"--scaling: {exc}")
    if a.idle_seconds <= 0 or a.memory_jobs < 1:
        ap.error("--idle-seconds and --memory-jobs must be positive")
    opts = Options(
        a.store, a.sqlite_options, a.n, a.processes, a.threads, a.trickle_n,
        a.trickle_rate, a.idle_before_trickle, a.profile, a.keep, a.analyze, a.profile_gil,
    )  # fmt: skip
    return opts, a


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"1x1,2x10"`` as [(1, 1), (2, 10)]: worker processes x threads each."""
    sizes = []
    for part in text.split(","):
        processes, sep, threads = part.strip().partition("x")
        if not sep or not processes.isdigit() or not threads.isdigit():
            raise ValueError(f"{part.strip()!r} is not PROCESSESxTHREADS, e.g. 2x10")
        if int(processes) < 1 or int(threads) < 1:
            raise ValueError(f"{part.strip()!r}: processes and threads must be at least 1")
        sizes.append((int(processes), int(threads)))
    return sizes


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(f"bin/bench: stopped by signal {signum}")  # unwinds: daemons are stopped


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 if a job ran twice, never, or was left behind."""
    opts, a = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    if a.report:
        return report(opts, a)
    results: list[RunResult] = []
    for k in range(a.runs):
        res = run_once(opts)
        results.append(res)
        if k == 0:
            info = res.info
            print(
                f"store {info['store']} | {opts.processes} process(es) x {opts.threads} threads "
                f"({info['daemons']} daemon(s), "
                f"[supervisor] processes = {info['processes_each']}) | "
                f"N = {opts.n} single + {opts.n} bulk, drained together | "
                f"trickle {opts.trickle_n} at {opts.trickle_rate:g}/s"
            )
        print(f"\n== run {k + 1}/{a.runs}")
        print_table([res], first=k + 1)
        sys.stdout.flush()
    if a.runs > 1:
        print(f"\n== all runs and median of {a.runs}")
        print_table(results)
    if a.json:
        a.json.write_text(json.dumps(
            {"options": {**vars(a), "profile": str(a.profile), "json": str(a.json)},
             "runs": [vars(r) for r in results], "median": medians(results)},
            indent=1, default=str,
        ))  # fmt: skip
    return 1 if any(r.checks for r in results) else 0


def report(opts: Options, a: argparse.Namespace) -> int:
    """``--report``: every figure of the performance targets for one store, printed as
    it is measured and summed up at the end; exit 1 if any run failed its checks."""
    options = f" ({opts.sqlite_options})" if opts.sqlite_options else ""
    store = opts.store or f"temp SQLite files{options}"
    print(f"bin/bench --report: {store}, N = {opts.n}, median of {a.runs} run(s) per size")
    sizes = [(opts.processes, opts.threads)]
    sizes += [size for size in a.scaling_sizes if size not in sizes]
    by_size: dict[tuple[int, int], list[RunResult]] = {}
    for processes, threads in sizes:
        size_opts = dataclasses.replace(opts, processes=processes, threads=threads)
        print(f"\n== {processes} process(es) x {threads} threads", flush=True)
        by_size[(processes, threads)] = runs = [run_once(size_opts) for _ in range(a.runs)]
        print_table(runs)
    with tempfile.TemporaryDirectory(prefix="rocketjob-bench-") as workdir:
        url = store_url(opts, Path(workdir))  # the given store, or a temp file removed after
        print(f"\n== idle worker, {a.idle_seconds:g} s (10 threads, in this process)", flush=True)
        idle = worker_cost.idle(url, a.idle_seconds)
        print(f"\n== memory of a worker over {a.memory_jobs:,} jobs (10 threads)", flush=True)
        rss = worker_cost.memory(url, a.memory_jobs)

    head = medians(by_size[sizes[0]])
    print(f"\n== summary ({store})")
    print(
        f"{sizes[0][0]} x {sizes[0][1]}: enqueue {fmt('{:,.0f}', head['enqueue_jps'])} j/s, "
        f"bulk {fmt('{:,.0f}', head['bulk_jps'])} j/s, drain {fmt('{:,.0f}', head['drain_jps'])} "
        f"j/s, CPU {fmt('{:.3f}', head['cpu_per_1k'])} s per 1k jobs, pickup p50 / p99 "
        f"{fmt('{:.1f}', head['pickup_p50_ms'])} / {fmt('{:.1f}', head['pickup_p99_ms'])} ms"
    )
    print("scaling, drain j/s: " + ", ".join(
        f"{p} x {t} {fmt('{:,.0f}', medians(by_size[(p, t)])['drain_jps'])}"
        for p, t in a.scaling_sizes
    ))  # fmt: skip
    print(
        f"idle: {idle.queries_per_s:.2f} store queries/s (limit 1), "
        f"CPU {idle.cpu_percent:.2f}% of one core (limit 1%)"
    )
    after = [mib for done, mib in rss if done]
    print(
        f"memory: RSS {rss[0][1]:.1f} MiB after boot, {after[0]:.1f} after the first chunk, "
        f"{rss[-1][1]:.1f} after {rss[-1][0]:,} jobs (range after the first chunk: "
        f"{min(after):.1f}-{max(after):.1f})"
    )
    failed = [r for runs in by_size.values() for r in runs if r.checks]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
