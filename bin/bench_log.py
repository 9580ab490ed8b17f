#!/usr/bin/env python3
"""Logging overhead: job throughput with no appender, a JSON file, and a file plus a hanging
HTTP receiver; and records/s one process can log.

By default the jobs run on an in-process worker; ``--daemon`` runs them on a real
``rocketjob -c FILE`` daemon (supervisor and forked workers) instead: per setup and round, a
fresh SQLite store and daemon; once its workers are registered, ``--jobs`` jobs are enqueued
in one call and timed until none is left. Each job logs one info line with ``self.logger``.
Setups are interleaved per round, and the median of the rounds is printed.

    .venv/bin/python bin/bench_log.py [--jobs 2000] [--threads 4]
    .venv/bin/python bin/bench_log.py --daemon [--jobs 5000] [--processes 1] [--threads 10]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import appenders
import rocketjob
from rocketjob import Job, Server
from rocketjob import config as config_module
from rocketjob.control import ServerCommand
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
    worker = Worker.boot(config_module.from_dict(data), store=rocketjob.current_store())
    began = time.monotonic()
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    while sum(v for k, v in Job.counts_by_state().items() if k != "completed") > 0:
        time.sleep(0.01)
    took = time.monotonic() - began
    worker.request(ServerCommand.STOP)
    thread.join(30)
    rocketjob.disconnect()
    return n / took


def records_per_second(n: int = 50_000) -> float:
    """How fast one thread can log info lines (queued to the configured appenders)."""
    began = time.monotonic()
    for i in range(n):
        logger.info("bench record", i=i)
    return n / (time.monotonic() - began)


BIN = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BIN)


def _toml(sections: dict[str, dict[str, Any]], entries: list[dict[str, Any]]) -> str:
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    for entry in entries:
        lines.append("[[appenders]]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in entry.items()]
    return "\n".join(lines) + "\n"


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench_log: {what} not within {timeout} s")
        time.sleep(0.01)


def run_daemon_jobs(
    n: int, args: argparse.Namespace, entries: list[dict[str, Any]], workdir: str
) -> float:
    """Run ``n`` jobs on a fresh ``rocketjob -c`` daemon; jobs per second (enqueue to done).

    The daemon runs in ``bin/`` (the CLI puts its cwd on sys.path, so it imports this file as
    ``bench_log``); its output, where the logs go with no appenders, is a file.
    """
    import bench_log  # this file under its module name: the class path the daemon knows

    stamp = time.monotonic_ns()
    url = f"sqlite:///{workdir}/jobs-{stamp}.db"
    sections = {
        "store": {"url": url},
        "supervisor": {"processes": args.processes, "drain_timeout": 5},
        "worker": {"threads": args.threads, "imports": ["bench_log"], "heartbeat_seconds": 5},
        "logging": {"level": "info", "close_timeout": 2},
    }
    config = f"{workdir}/rj-{stamp}.toml"
    with open(config, "w") as out:
        out.write(_toml(sections, entries))
    rocketjob.connect(url)
    env = {**os.environ, "PYTHONPATH": ROOT, "BENCH_TOKEN": "t"}
    with open(f"{workdir}/daemon-{stamp}.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rocketjob", "-c", config], cwd=BIN, env=env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait(lambda: len(Server.all()) == args.processes, 30, "workers registered")
        began = time.monotonic()
        bench_log.BenchJob.perform_all_later([(i,) for i in range(n)])
        _wait(lambda: sum(bench_log.BenchJob.counts_by_state().values()) == 0, 600, "jobs done")
        took = time.monotonic() - began
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        rocketjob.disconnect()
    return n / took


def bench_daemon(args: argparse.Namespace, setups: dict[str, Any], workdir: str) -> None:
    """Print jobs/s per setup on real daemons (median of the rounds, and every round)."""
    rates: dict[str, list[float]] = {label: [] for label in setups}
    for _ in range(args.rounds):
        for label, entries in setups.items():
            rates[label].append(run_daemon_jobs(args.jobs, args, entries or [], workdir))
    baseline = statistics.median(rates["none"])
    print(f"real daemon: {args.processes} process(es) x {args.threads} threads, SQLite, "
          f"{args.jobs} jobs per run, {args.rounds} rounds")  # fmt: skip
    for label, values in rates.items():
        rate = statistics.median(values)
        runs = " ".join(f"{v:.0f}" for v in values)
        share = 100 * rate / baseline
        print(f"{label:28s} {rate:8.0f} jobs/s (median; runs {runs})  {share:5.1f}% of none")


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--daemon", action="store_true", help="run the jobs on real daemons")
    parser.add_argument("--processes", type=int, default=1, help="worker processes (--daemon)")
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
    if args.daemon:
        bench_daemon(args, setups, workdir)
        return
    rates: dict[str, list[float]] = {label: [] for label in setups}
    emitted: dict[str, float] = {}
    for _ in range(args.rounds):  # interleaved rounds: machine noise hits every setup alike
        for label, entries in setups.items():
            logger.remove()
            specs = None if entries is None else appenders.parse(entries)
            handle = None if specs is None else setup_logging("info", specs, role="worker")
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
