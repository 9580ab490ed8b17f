"""Crash recovery with real processes: kill -9 of a worker, of a whole host (process
group), boot failures and exit codes, and two daemons sharing one store."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from rocketjob import Job, Server
from tests.integration.helpers import Daemon, done, lines, seconds_since, started, write_config
from tests.integration.jobs import AppendJob, SleepJob, SlowFirstJob
from tests.support import wait_until

pytestmark = pytest.mark.slow


@pytest.mark.every_store
def test_kill_9_of_a_worker_mid_job(tmp_path: Path, url: str, daemons: list[Daemon]) -> None:
    ran = tmp_path / "ran.txt"
    config = write_config(tmp_path / "rj.toml", url, {"processes": 2}, {"threads": 1})
    daemons.append(daemon := Daemon(config))
    before = daemon.wait_workers(2)
    job = SleepJob.perform_later(str(ran), "slow", 1.0)
    victim = wait_until(lambda: started(ran, "slow"))
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_until(lambda: done(ran, "slow"), timeout=10)
    assert started(ran, "slow") != victim  # run again by the other (or a new) worker
    after = daemon.wait_workers(2)
    assert victim not in after and len(set(after) - set(before)) == 1  # only it was replaced
    wait_until(lambda: job.reload().completed)
    assert seconds_since(killed_at) < 5
    assert Job.counts_by_state() == {}
    assert all(server.pid != victim for server in Server.all())
    assert daemon.stop() == 0


@pytest.mark.every_store(zombie_seconds=2)
def test_sigkill_of_the_process_group_is_recovered_by_another_daemon(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    ran = tmp_path / "ran.txt"
    config = write_config(tmp_path / "rj.toml", url, {"processes": 1}, {"threads": 1})
    daemons.append(first := Daemon(config))
    first.wait_workers(1)
    job = SlowFirstJob.perform_later(str(ran), "orphan", 60.0)
    wait_until(lambda: started(ran, "orphan"))
    os.killpg(first.pid, signal.SIGKILL)  # the host dies: supervisor and workers
    killed_at = time.monotonic()
    daemons.append(second := Daemon(config))
    wait_until(lambda: done(ran, "orphan"), timeout=15)
    recovered = seconds_since(killed_at)
    assert recovered < 2 + 0.5 + 2  # zombie_seconds + a heartbeat + start-up of the second
    wait_until(lambda: job.reload().completed)
    assert [s.pid for s in Server.all()] == second.workers()
    assert second.stop() == 0


@pytest.mark.timeout(300)
@pytest.mark.every_store
def test_two_daemons_run_300_jobs_exactly_once(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    """On the MongoDB-protocol test server, which scans the whole collection per claim
    and slows as a run goes on, 100 jobs (the exactly-once property does not depend on
    the count); 300 everywhere else."""
    count = 100 if url.startswith("mongodb") else 300
    poll = 0.01 if url.startswith("sqlite") else 0.2  # a shared test server is slower
    ran = tmp_path / "ran.txt"
    config = write_config(tmp_path / "rj.toml", url, {"processes": 2}, {"threads": 2})
    daemons.extend([Daemon(config), Daemon(config)])
    for daemon in daemons:
        daemon.wait_workers(2)
    jobs = AppendJob.perform_all_later([(str(ran), f"job{i}") for i in range(count)])
    wait_until(lambda: len(lines(ran)) >= count, timeout=240, interval=poll)
    wait_until(lambda: Job.counts_by_state() == {}, timeout=30, interval=poll)
    assert sorted(lines(ran)) == sorted(f"job{i}" for i in range(count))
    assert len(jobs) == count
    assert [daemon.stop() for daemon in daemons] == [0, 0]


def test_bad_config_exits_2_naming_the_key(tmp_path: Path, url: str) -> None:
    config = write_config(tmp_path / "rj.toml", url, {"processes": 0})
    daemon = Daemon(config)
    assert daemon.wait() == 2
    assert "supervisor.processes" in daemon.log()


def test_import_failure_exits_3_naming_the_module(tmp_path: Path, url: str) -> None:
    config = write_config(
        tmp_path / "rj.toml", url, {"processes": 2}, {"imports": ["tests.integration.nope"]}
    )
    daemon = Daemon(config)
    try:
        assert daemon.wait(timeout=20) == 3
    finally:
        daemon.kill_group()
    output = daemon.log().strip().splitlines()
    assert len(output) == 1 and "tests.integration.nope" in output[0]
    assert Server.all() == []


def test_unreachable_store_exits_4(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'dir' / 'jobs.db'}"
    daemon = Daemon(write_config(tmp_path / "rj.toml", url))
    try:
        assert daemon.wait() == 4
    finally:
        daemon.kill_group()
    assert len(daemon.log().strip().splitlines()) == 1
