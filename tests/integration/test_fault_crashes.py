"""Crash accounting with real daemons and real process deaths (issue 16 items 2, 6, 7).

A poison job that kills its own process is failed with rocketjob.WorkerCrashed after
exactly ``max_crashes`` crashes, while the ordinary jobs queued behind it complete; the
worker's death and its reason are logged; a worker stopped by ``servers stop``/``kill``
is replaced."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from rocketjob import Job, Server
from tests.faults.jobs import PoisonJob, QuickJob, SleepyJob
from tests.integration.helpers import Daemon, lines, write_config
from tests.support import wait_until

pytestmark = pytest.mark.slow

FAULTS = "tests.faults.jobs"


def config_for(tmp_path: Path, url: str, **worker: object) -> Path:
    settings = {"threads": 2, "imports": [FAULTS], "max_crashes": 3, **worker}
    return write_config(tmp_path / "rj.toml", url, {"processes": 1}, settings)


@pytest.mark.parametrize("how", ["exit", "kill", "segv"])
def test_a_poison_job_is_failed_after_max_crashes_and_the_queue_keeps_moving(
    tmp_path: Path, engine_url: str, daemons: list[Daemon], how: str
) -> None:
    ran = tmp_path / "ran.txt"
    daemons.append(daemon := Daemon(config_for(tmp_path, engine_url)))
    daemon.wait_workers(1)
    began = time.monotonic()
    poison = PoisonJob.perform_later(str(ran), "poison", how)
    quick = QuickJob.set(destroy_on_complete=False).perform_all_later(
        [(str(ran), f"q{i}") for i in range(20)]
    )
    failed = wait_until(lambda: (j := Job.find(poison.id)).state == "failed" and j, 30)
    assert failed.crash_count == 3 and failed.failure_count == 1
    assert failed.exception is not None
    assert failed.exception.class_name == "rocketjob.WorkerCrashed"
    expected = {"exit": "exit 17", "kill": "SIGKILL", "segv": "SIGSEGV"}[how]
    assert expected in failed.exception.message and "server " in failed.exception.message
    starts = [line for line in lines(ran) if line.startswith("start poison")]
    assert len(starts) == 3, "run exactly max_crashes times"
    wait_until(lambda: all(Job.find(j.id).state == "completed" for j in quick), 30)
    # a quick job running on the other thread when the poison struck counts a crash too
    assert all(Job.find(j.id).crash_count < 3 for j in quick)
    assert time.monotonic() - began < 30, "no crash back-off starved the queue"
    log = wait_until(lambda: (text := daemon.log()).count("worker exited") >= 3 and text, 10)
    assert expected in log
    assert daemon.stop() == 0


def test_a_worker_dying_outside_jobs_backs_off_doubling(
    tmp_path: Path, engine_url: str, daemons: list[Daemon]
) -> None:
    daemons.append(daemon := Daemon(config_for(tmp_path, engine_url, threads=1)))
    for _ in range(4):  # a worker killed while running nothing: a crash loop
        (pid,) = daemon.wait_workers(1, timeout=20)
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda pid=pid: pid not in daemon.workers(), 10)
    daemon.wait_workers(1, timeout=30)
    delays = [line.split("delay=")[1].split()[0] for line in daemon.log().splitlines()
              if "backing off" in line]  # fmt: skip
    assert delays[:4] == ["0.5", "1.0", "2.0", "4.0"]
    assert daemon.stop() == 0


@pytest.mark.parametrize("command", ["stop", "kill"])
def test_a_worker_stopped_remotely_is_replaced(
    tmp_path: Path, engine_url: str, daemons: list[Daemon], command: str
) -> None:
    ran = tmp_path / "ran.txt"
    daemons.append(daemon := Daemon(config_for(tmp_path, engine_url, threads=1)))
    (first,) = daemon.wait_workers(1)
    (server,) = [s for s in Server.all() if s.pid == first]
    assert server.send(command)
    (second,) = wait_until(lambda: [p for p in daemon.workers() if p != first] and
                         daemon.wait_workers(1), 20)  # fmt: skip
    assert second != first and daemon.proc.poll() is None, "the supervisor did not exit"
    job = QuickJob.set(destroy_on_complete=False).perform_later(str(ran), "after")
    wait_until(lambda: Job.find(job.id).state == "completed", 15)
    assert daemon.stop() == 0


def test_a_crashing_worker_s_last_words_reach_the_log(
    tmp_path: Path, engine_url: str, daemons: list[Daemon]
) -> None:
    ran = tmp_path / "ran.txt"
    daemons.append(daemon := Daemon(config_for(tmp_path, engine_url, threads=1)))
    (pid,) = daemon.wait_workers(1)
    job = SleepyJob.perform_later(str(ran), "slow", 30.0)
    wait_until(lambda: any(line.startswith("start slow") for line in lines(ran)), 10)
    os.kill(pid, signal.SIGKILL)
    daemon.wait_log("worker exited", 10)
    log = daemon.log()
    assert "how=SIGKILL last_words=(none: killed by a signal)" in log
    wait_until(lambda: Job.find(job.id).crash_count == 1, 10)
    job.abort()
    (pid,) = daemon.wait_workers(1, timeout=20)
    PoisonJob.perform_later(str(ran), "broken", "break")  # the worker's own error
    at = daemon.wait_log("worker last words", 15, after=len(log))
    words = daemon.log()[at:]
    assert "RuntimeError: the worker loop broke" in words and "Traceback" in words
    assert "how=exit 1" in words
    assert daemon.stop() == 0
