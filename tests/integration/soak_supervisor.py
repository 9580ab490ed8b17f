#!/usr/bin/env python
"""Soak run (a script, not a test): the supervisor's own memory and CPU over time.

    .venv/bin/python tests/integration/soak_supervisor.py [--seconds 600]

Runs a real supervisor (2 workers) on a temporary SQLite store while a feeder enqueues
jobs continuously; every 20 s a worker is killed with SIGKILL, every 60 s the
supervisor gets HUP, TTIN/TTOU and USR1. Samples the supervisor's RSS and CPU time
every 10 s and prints them with a summary (first/last/max RSS, CPU %).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import rocketjob
from tests.integration.helpers import Daemon, write_config
from tests.integration.jobs import AppendJob


def main() -> int:
    """Run the soak and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        url = f"sqlite:///{tmp / 'jobs.db'}"
        rocketjob.connect(url)
        daemon = Daemon(write_config(tmp / "rj.toml", url, {"processes": 2}, {"threads": 4}))
        try:
            daemon.wait_workers(2)
            samples = soak(daemon, tmp / "ran.txt", args.seconds)
        finally:
            daemon.stop(60)
            daemon.kill_group()
    report(samples)
    return 0


def soak(daemon: Daemon, ran: Path, seconds: float) -> list[tuple[float, int, float]]:
    """Feed jobs and disturb the supervisor; samples of (elapsed, rss, cpu seconds)."""
    supervisor = psutil.Process(daemon.pid)
    start = time.monotonic()
    samples: list[tuple[float, int, float]] = []
    next_sample = next_kill = next_signals = start
    count = 0
    while (now := time.monotonic()) - start < seconds:
        AppendJob.perform_all_later([(str(ran), f"j{count + i}") for i in range(20)])
        count += 20
        if now >= next_sample:
            cpu = supervisor.cpu_times()
            samples.append((now - start, supervisor.memory_info().rss, cpu.user + cpu.system))
            print(
                f"{now - start:6.0f}s rss={samples[-1][1] / 1e6:.2f} MB cpu={samples[-1][2]:.2f}s"
            )
            next_sample += 10
        if now >= next_kill and daemon.workers():
            os.kill(random.choice(daemon.workers()), signal.SIGKILL)
            next_kill += 20
        if now >= next_signals:
            for signum in (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGUSR1):
                daemon.signal(signum)
            next_signals += 60
        time.sleep(0.5)  # the soak's own pace between rounds of faults, not a wait
    print(f"jobs enqueued: {count}")
    return samples


def report(samples: list[tuple[float, int, float]]) -> None:
    """Print the summary."""
    first, last = samples[1] if len(samples) > 1 else samples[0], samples[-1]
    peak = max(rss for _, rss, _ in samples)
    elapsed = last[0] - first[0] or 1.0
    print(
        f"supervisor RSS: first {first[1] / 1e6:.2f} MB, last {last[1] / 1e6:.2f} MB, "
        f"max {peak / 1e6:.2f} MB; CPU {last[2]:.2f}s in total, "
        f"{100 * (last[2] - first[2]) / elapsed:.2f}% of one core after start-up"
    )


if __name__ == "__main__":
    sys.exit(main())
