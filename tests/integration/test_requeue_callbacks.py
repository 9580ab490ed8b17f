"""``before_requeue`` / ``after_requeue`` run when the runtime re-queues a job: for a
worker killed with SIGKILL (the supervisor releases its jobs), for one drained with
SIGTERM past its ``drain_timeout`` (the worker releases them), and for a dead host's
job (a live daemon reaps the zombie server and re-queues it), with real daemons."""

from __future__ import annotations

import datetime as dt
import os
import signal
from pathlib import Path

import pytest

import rocketjob
from rocketjob import Job, JobState, Server
from tests.integration.helpers import Daemon, done, lines, started, write_config
from tests.integration.jobs import RequeueMarkJob
from tests.support import wait_until

pytestmark = pytest.mark.slow


def _callbacks(ran: Path, tag: str) -> list[list[str]]:
    """The requeue callback lines of ``tag``: [callback, pid, state]."""
    return [
        [parts[0], parts[2], parts[3]]
        for parts in (line.split() for line in lines(ran))
        if parts[0].endswith("_requeue") and parts[1] == tag
    ]


def test_requeue_callbacks_run_for_a_killed_workers_job(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    ran = tmp_path / "ran.txt"
    config = write_config(tmp_path / "rj.toml", url, {"processes": 1}, {"threads": 1})
    daemons.append(daemon := Daemon(config))
    daemon.wait_workers(1)
    job = RequeueMarkJob.set(destroy_on_complete=False).perform_later(str(ran), "victim", 60.0)
    victim = wait_until(lambda: started(ran, "victim"))
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: done(ran, "victim"), timeout=15)  # re-run at once by the new worker
    supervisor = str(daemon.pid)  # the supervisor released the dead worker's job
    assert _callbacks(ran, "victim") == [
        ["before_requeue", supervisor, "running"],
        ["after_requeue", supervisor, "queued"],
    ]
    wait_until(lambda: job.reload().completed)
    assert job.requeue_callbacks == 1 and job.failure_count == 0
    assert daemon.stop() == 0


def test_requeue_callbacks_run_for_a_job_left_running_at_the_drain_deadline(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    ran = tmp_path / "ran.txt"
    config = write_config(tmp_path / "rj.toml", url, {"drain_timeout": 0.5}, {"threads": 1})
    daemons.append(daemon := Daemon(config))
    daemon.wait_workers(1)
    job = RequeueMarkJob.set(destroy_on_complete=False).perform_later(str(ran), "slow", 60.0)
    worker = str(wait_until(lambda: started(ran, "slow")))
    assert daemon.stop() == 0  # SIGTERM: drain, then re-queue what is still running
    assert _callbacks(ran, "slow") == [
        ["before_requeue", worker, "running"],
        ["after_requeue", worker, "queued"],
    ]
    job = RequeueMarkJob.find(job.id)
    assert job.state == JobState.QUEUED and job.worker_name is None
    assert job.requeue_callbacks == 1
    assert Job.counts_by_state() == {"queued": 1}


@pytest.mark.every_store(zombie_seconds=2)
def test_requeue_callbacks_run_for_a_dead_hosts_job_reaped_by_a_live_daemon(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    """A host that died (its server document's heartbeat ten minutes old) holding a
    running job: a live daemon reaps it, re-queues the job through its lifecycle (the
    callbacks run in its worker process), then runs it."""
    ran = tmp_path / "ran.txt"
    store = rocketjob.current_store()
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    store.register_server({
        "name": "deadhost:4242", "host": "deadhost", "pid": 4242, "state": "running",
        "started_at": long_ago, "heartbeat_at": long_ago, "threads": 1, "busy": 1,
        "info": {}, "commands": [],
    })  # fmt: skip
    job = RequeueMarkJob.set(destroy_on_complete=False).perform_later(str(ran), "stranded", 0.0)
    now = dt.datetime.now(dt.UTC)
    (claimed,) = store.claim_jobs(["deadhost:4242:1"], [RequeueMarkJob._job_class_path], now)
    assert claimed["id"] == job.id and job.reload().running
    config = write_config(tmp_path / "rj.toml", url, {"processes": 1}, {"threads": 1})
    daemons.append(daemon := Daemon(config))
    wait_until(lambda: done(ran, "stranded"), timeout=15)
    (worker,) = daemon.workers()
    assert _callbacks(ran, "stranded") == [
        ["before_requeue", str(worker), "running"],
        ["after_requeue", str(worker), "queued"],
    ]
    wait_until(lambda: job.reload().completed)
    assert job.requeue_callbacks == 1 and job.failure_count == 0
    assert started(ran, "stranded") == worker  # run once, by the live daemon
    assert [server.pid for server in Server.all()] == [worker]
    assert daemon.stop() == 0
