"""``before_requeue`` / ``after_requeue`` run when the runtime re-queues a job: for a
worker killed with SIGKILL (the supervisor releases its jobs) and for one drained with
SIGTERM past its ``drain_timeout`` (the worker releases them), with real daemons."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from rocketjob import Job, JobState
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
