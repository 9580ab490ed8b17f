"""Batch jobs with real ``rocketjob -c`` daemons on SQLite, PostgreSQL and MongoDB: a CSV
processed by several worker processes and downloaded in order, a failing record and its
resume, a worker SIGKILLed mid-slice (nothing lost, nothing run twice outside the killed
slices) and ``throttle_running_workers`` across processes.

Each test runs on every store (``@pytest.mark.every_store``, tests/integration/conftest.py):
a SQLite file, then an isolated PostgreSQL schema and MongoDB database; a missing server
skips its runs locally and fails them when ``CI=true``.
"""

from __future__ import annotations

import collections
import csv
import os
import signal
from pathlib import Path

import pytest

import rocketjob
from rocketjob import Job
from tests.batch.jobs import CountingJob, PickyJob, SquareJob, ThrottledJob
from tests.integration.helpers import Daemon, lines, write_config
from tests.support import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.every_store]
IMPORTS = {"imports": ["tests.batch.jobs"]}


def _daemon(
    tmp_path: Path, url: str, daemons: list[Daemon], processes: int, threads: int
) -> Daemon:
    config = write_config(tmp_path / "rj.toml", url, {"processes": processes},
                          {"threads": threads, **IMPORTS})  # fmt: skip
    daemons.append(daemon := Daemon(config))
    daemon.wait_workers(processes, timeout=30)
    return daemon


@pytest.mark.timeout(240)
def test_a_csv_is_processed_by_several_processes_and_downloaded_in_order(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    rows = 300
    source = tmp_path / "in.csv"
    with open(source, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["n", "name"])
        writer.writerows([n, f"name {n}"] for n in range(1, rows + 1))
    job = SquareJob.upload(source)
    daemon = _daemon(tmp_path, url, daemons, processes=2, threads=2)
    wait_until(lambda: job.reload().completed, timeout=180, interval=0.2)
    assert job.status()["slices"] == {"queued": 0, "running": 0, "completed": 30, "failed": 0}
    target = tmp_path / "out.csv"
    assert job.download(target) == rows
    with open(target, newline="") as back:
        got = list(csv.DictReader(back))
    assert [int(row["n"]) for row in got] == list(range(1, rows + 1))
    assert all(int(row["square"]) == int(row["n"]) ** 2 for row in got)
    assert daemon.stop() == 0


@pytest.mark.timeout(240)
def test_a_failing_record_fails_the_job_and_retry_resumes_it(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    marker = tmp_path / "fixed"
    job = PickyJob.upload(range(1, 21), bad=7, marker=str(marker))
    daemon = _daemon(tmp_path, url, daemons, processes=1, threads=2)
    wait_until(lambda: job.reload().failed, timeout=120, interval=0.2)
    [(number, record, exc)] = job.failed_records()
    assert (number, record, exc.class_name, exc.message) == (7, 7, "ValueError", "bad record 7")
    assert job.status()["slices"]["failed"] == 1 and job.status()["slices"]["completed"] == 4
    marker.write_text("fixed")
    job.retry()
    wait_until(lambda: job.reload().completed, timeout=120, interval=0.2)
    assert list(job.output()) == list(range(1, 21))
    assert daemon.stop() == 0


@pytest.mark.timeout(240)
def test_a_worker_killed_mid_slice_loses_nothing(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    log = tmp_path / "ran.txt"
    count = 60
    job = CountingJob.upload(range(count), log=str(log), pause=0.05)
    daemon = _daemon(tmp_path, url, daemons, processes=2, threads=2)
    first = wait_until(lambda: lines(log), timeout=60, interval=0.02)
    victim = int(first[0].split()[0])
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: job.reload().completed, timeout=180, interval=0.2)
    runs = [(int(pid), int(record)) for pid, record in (line.split() for line in lines(log))]
    per_record = collections.Counter(record for _, record in runs)
    assert set(per_record) == set(range(count))  # nothing lost
    killed_slices = {record // 5 for pid, record in runs if pid == victim}
    twice = {record for record, times in per_record.items() if times > 1}
    assert all(record // 5 in killed_slices for record in twice)  # only the killed slices
    assert max(per_record.values()) <= 2
    assert Job.counts_by_state() == {}  # completed and destroyed with its slices
    assert daemon.stop() == 0


@pytest.mark.timeout(240)
def test_throttle_running_workers_bounds_slices_across_processes(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    log = tmp_path / "ran.txt"
    count = 40
    job = ThrottledJob.upload(range(count), log=str(log))
    daemon = _daemon(tmp_path, url, daemons, processes=2, threads=3)
    wait_until(lambda: job.reload().completed, timeout=180, interval=0.2)
    events = sorted(
        (float(at), kind == "b") for kind, at, _ in (line.split() for line in lines(log))
    )
    running = peak = 0
    for _, begins in events:  # an end before a begin at the same instant
        running += 1 if begins else -1
        peak = max(peak, running)
    assert sum(1 for _, begins in events if begins) == count
    assert 1 <= peak <= 2
    assert daemon.stop() == 0


@pytest.mark.timeout(120)
def test_a_dead_hosts_slices_are_recovered_by_another_daemon(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    """The whole first daemon is SIGKILLed (a host dies): nobody releases its slices but
    the second daemon's zombie check (zombie_seconds = 2 here)."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    rocketjob.connect(url)
    try:
        log = tmp_path / "ran.txt"
        job = CountingJob.upload(range(40), log=str(log), pause=0.05)
        first = _daemon(tmp_path, url, daemons, processes=1, threads=2)
        wait_until(lambda: lines(log), timeout=60, interval=0.02)
        os.killpg(first.pid, signal.SIGKILL)
        second = _daemon(tmp_path, url, daemons, processes=1, threads=2)
        wait_until(lambda: job.reload().completed, timeout=60, interval=0.2)
        records = {int(line.split()[1]) for line in lines(log)}
        assert records == set(range(40))
        assert second.stop() == 0
    finally:
        rocketjob.disconnect()
