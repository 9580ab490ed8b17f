#!/usr/bin/env python3
"""Logging overhead: job throughput with no appender, a JSON file, and a file plus a hanging
HTTP receiver; and records/s one process can log. Runs an in-process worker on SQLite.

    .venv/bin/python bin/bench_log.py [--jobs 2000] [--threads 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import rocketjob
from rocketjob import Job
from rocketjob import config as config_module
from rocketjob.log import logger, setup_logging
from rocketjob.worker import Worker


class BenchJob(Job):
    """A trivial job that logs one info line."""

    def perform(self, n: int) -> None:
        self.logger.info("bench job ran", n=n)


def hanging_server() -> ThreadingHTTPServer:
    """An HTTP server that accepts and never answers."""
    release = threading.Event()

    class Hang(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            release.wait(60)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hang)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run_jobs(n: int, threads: int, workdir: str) -> float:
    """Enqueue ``n`` jobs, run them with an in-process worker; jobs per second."""
    rocketjob.connect(f"sqlite:///{workdir}/jobs-{time.monotonic_ns()}.db")
    BenchJob.perform_all_later([(i,) for i in range(n)])
    data = {"worker": {"threads": threads, "heartbeat_seconds": 5, "zombie_seconds": 30}}
    worker = Worker(config_module.from_dict(data))
    worker.boot()
    began = time.monotonic()
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    while sum(v for k, v in Job.counts_by_state().items() if k != "completed") > 0:
        time.sleep(0.01)
    took = time.monotonic() - began
    worker.request("drain")
    thread.join(30)
    rocketjob.disconnect()
    return n / took


def records_per_second(n: int = 50_000) -> float:
    """How fast one thread can log info lines (queued to the configured appenders)."""
    began = time.monotonic()
    for i in range(n):
        logger.info("bench record", i=i)
    return n / (time.monotonic() - began)


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="bench-log-")
    server = hanging_server()
    os.environ["BENCH_TOKEN"] = "t"
    file_entry = {"type": "file", "path": f"{workdir}/bench.log", "format": "json"}
    http = {"type": "splunk", "url": f"http://127.0.0.1:{server.server_address[1]}/e"}
    setups: dict[str, list[dict[str, Any]] | None] = {
        "none": None,
        "json file": [file_entry],
        "json file + hanging http": [file_entry, {**http, "token_env": "BENCH_TOKEN"}],
    }
    rates: dict[str, list[float]] = {label: [] for label in setups}
    emitted: dict[str, float] = {}
    for _ in range(args.rounds):  # interleaved rounds: machine noise hits every setup alike
        for label, entries in setups.items():
            logger.remove()
            handle = None if entries is None else setup_logging("info", entries, role="worker")
            rates[label].append(run_jobs(args.jobs, args.threads, workdir))
            if handle is not None:
                emitted[label] = records_per_second()
                handle.close(2)
    baseline = statistics.median(rates["none"])
    for label, values in rates.items():
        rate = statistics.median(values)
        extra = f"  {emitted[label]:8.0f} records/s logged" if label in emitted else ""
        share = 100 * rate / baseline
        print(f"{label:28s} {rate:8.0f} jobs/s (median)  {share:5.1f}% of none{extra}")


if __name__ == "__main__":
    main()
