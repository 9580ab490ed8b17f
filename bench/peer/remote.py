"""The peer harness's PostgreSQL systems with the database a network hop away: every
connection (enqueuer, workers, LISTEN) goes through ``bench/latency_proxy.py``.

Run by ``bench/peer/remote.sh`` (which prepares the harness copy and its venv like
``run.sh``) with the harness venv's python, from the harness copy. For each run and each
system it starts a fresh proxy, runs the harness's own ``bench.py --one SYSTEM`` (setup,
enqueue N, drain, pickup trickle; no bulk) against ``BENCH_PG_DSN`` = the proxy, and
reads back: the harness's figures, the jobs' start stamps (the drain window), and the
proxy's counters every 0.1 s. Round trips per job = the proxy's round trips between the
first and the last job start of the drain (steady state: start-up excluded) / jobs
started in between; likewise for the enqueue window. Prints one table: medians of the
runs, every run's drain, the proxy's CPU (to discount) and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path.cwd()  # the harness copy
RUN = HERE / "run"


def wait_listening(port: int, timeout: float = 10.0) -> None:
    """Return once 127.0.0.1:``port`` accepts connections (the proxy is up)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _series(path: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _at(series: list[dict[str, float]], t: float, key: str) -> float:
    """``key`` of the proxy's counters at time ``t`` (linear between snapshots)."""
    before = [s for s in series if s["t"] <= t]
    after = [s for s in series if s["t"] > t]
    if not before:
        return series[0][key]
    if not after:
        return before[-1][key]
    a, b = before[-1], after[0]
    return a[key] + (b[key] - a[key]) * (t - a["t"]) / (b["t"] - a["t"])


def _stamps(path: Path, n: int) -> list[float]:
    starts = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 4 and int(parts[0]) < n:
            starts.append(float(parts[2]))
    return sorted(starts)


def one(system: str, run: int, opts: argparse.Namespace) -> dict[str, Any]:
    """One system once through a fresh proxy; the harness's figures plus round trips."""
    stats = RUN / f"{system}.remote{run}.proxy.jsonl"
    stats.unlink(missing_ok=True)
    proxy = subprocess.Popen(
        [opts.proxy_python, "-m", "bench.latency_proxy", "--listen", str(opts.port),
         "--target", opts.target, "--delay-ms", str(opts.delay_ms), "--stats", str(stats)],
        cwd=opts.root, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    out = RUN / f"{system}.remote{run}.json"
    try:
        wait_listening(opts.port)
        env = {**os.environ, "BENCH_PG_DSN": f"postgresql://root@127.0.0.1:{opts.port}/{opts.db}"}
        subprocess.run(
            [sys.executable, "bench.py", "--one", system, "--json", str(out), "-n", str(opts.n),
             "--no-bulk"],
            env=env, check=True, timeout=900,
        )  # fmt: skip
    finally:
        proxy.terminate()
        proxy.wait(10)
    res: dict[str, Any] = json.loads(out.read_text())
    if res.get("status") != "ok":
        raise SystemExit(f"{system} run {run}: {res.get('error')}")
    series, starts = _series(stats), _stamps(RUN / f"{system}.stamps", opts.n)
    first, last = starts[0], starts[-1]
    drain_rt = _at(series, last, "round_trips") - _at(series, first, "round_trips")
    spawn = first - res["drain"]["spawn_to_first_s"]
    enq_end, enq_start = spawn, spawn - res["enqueue"]["wall_s"]
    enq_rt = _at(series, enq_end, "round_trips") - _at(series, enq_start, "round_trips")
    proxy_cpu = _at(series, last, "cpu_s") - _at(series, first, "cpu_s")
    res["remote"] = {
        "drain_round_trips_per_job": drain_rt / max(len(starts) - 1, 1),
        "enqueue_round_trips_per_job": enq_rt / opts.n,
        "proxy_cpu_s_per_1k_drain": 1000 * proxy_cpu / opts.n,
        "mean_delay_ms": series[-1]["mean_delay_ms"],
        "connections": series[-1]["connections"],
    }
    return res


def _fmt(values: list[float], spec: str) -> str:
    return format(statistics.median(values), spec) if values else "-"


def main() -> None:
    """Command line (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--systems", default="rocketjob-pg,pgqueuer")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("-n", type=int, default=10_000)
    ap.add_argument("--delay-ms", type=float, default=0.5)
    ap.add_argument("--port", type=int, default=16543)
    ap.add_argument("--target", default="127.0.0.1:5432")
    ap.add_argument("--db", default="bench")
    ap.add_argument("--root", required=True, help="the rocketjob tree (for bench.latency_proxy)")
    ap.add_argument("--proxy-python", required=True)
    opts = ap.parse_args()
    RUN.mkdir(exist_ok=True)
    load0 = Path("/proc/loadavg").read_text().split()[:3]
    systems = opts.systems.split(",")
    results: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
    for run in range(1, opts.runs + 1):
        for system in systems:
            results[system].append(one(system, run, opts))
    load1 = Path("/proc/loadavg").read_text().split()[:3]
    loads = f"{' '.join(load0)} -> {' '.join(load1)}"
    print(
        f"\nN = {opts.n}, {opts.delay_ms} ms each way through bench/latency_proxy.py, "
        f"medians of {opts.runs} runs; load average {loads}\n"
    )
    print(
        "| system | enqueue j/s | drain j/s | pickup p50 / p99 ms | round trips per job:"
        " enqueue / drain | proxy delay ms | proxy CPU s per 1k (drain) | drain per run |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for system, runs in results.items():
        enq = [r["enqueue"]["jobs_per_s"] for r in runs]
        drain = [r["drain"]["jobs_per_s"] for r in runs]
        p50 = [r["latency"]["p50_ms"] for r in runs]
        p99 = [r["latency"]["p99_ms"] for r in runs]
        rt_e = [r["remote"]["enqueue_round_trips_per_job"] for r in runs]
        rt_d = [r["remote"]["drain_round_trips_per_job"] for r in runs]
        delay = [r["remote"]["mean_delay_ms"] for r in runs]
        cpu = [r["remote"]["proxy_cpu_s_per_1k_drain"] for r in runs]
        print(f"| {system} | {_fmt(enq, ',.0f')} | {_fmt(drain, ',.0f')} | "
              f"{_fmt(p50, '.1f')} / {_fmt(p99, '.1f')} | {_fmt(rt_e, '.2f')} / "
              f"{_fmt(rt_d, '.2f')} | {_fmt(delay, '.3f')} | {_fmt(cpu, '.3f')} | "
              f"{' / '.join(f'{d:,.0f}' for d in drain)} |")  # fmt: skip
    (HERE / "remote.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
