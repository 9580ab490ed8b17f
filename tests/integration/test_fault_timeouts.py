"""Time limits, aborts and recycling with real daemons (issue 16 items 3 and 4)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import rocketjob
from rocketjob import Job
from tests.faults.jobs import HangJob, LeakJob, QuickJob, SleepyJob
from tests.integration.helpers import Daemon, lines, write_config
from tests.support import wait_until

pytestmark = pytest.mark.slow

FAULTS = "tests.faults.jobs"


def config_for(tmp_path: Path, url: str, **worker: object) -> Path:
    settings = {"threads": 2, "imports": [FAULTS], "timeout_grace": 1.0, **worker}
    return write_config(tmp_path / "rj.toml", url, {"processes": 1}, settings)


def test_a_hanging_job_is_killed_with_its_process_and_failed_with_job_timeout(
    tmp_path: Path, engine_url: str, daemons: list[Daemon]
) -> None:
    ran = tmp_path / "ran.txt"
    daemons.append(daemon := Daemon(config_for(tmp_path, engine_url)))
    (first,) = daemon.wait_workers(1)
    other = SleepyJob.set(destroy_on_complete=False).perform_later(str(ran), "other", 3.0)
    wait_until(lambda: any(line.startswith("start other") for line in lines(ran)), 10)
    began = time.monotonic()
    hang = HangJob.perform_later(str(ran), "hang", 600.0)  # time.sleep: soft limit ignored
    failed = wait_until(lambda: (j := Job.find(hang.id)).state == "failed" and j, 15)
    took = time.monotonic() - began
    assert took < 0.5 + 1.0 + 2.0, "within timeout + timeout_grace + 2 s"
    assert failed.exception is not None
    assert failed.exception.class_name == "rocketjob.JobTimeout"
    assert "ran past its timeout (0.5 s)" in failed.exception.message
    assert failed.failure_count == 1 and failed.crash_count == 0
    (second,) = daemon.wait_workers(1, timeout=15)
    assert second != first, "the process was killed and replaced"
    wait_until(lambda: Job.find(other.id).state == "completed", 20)
    assert Job.find(other.id).crash_count == 0, "the other job was re-queued without penalty"
    assert daemon.stop() == 0


def test_abort_of_a_running_job_interrupts_it(
    tmp_path: Path, engine_url: str, daemons: list[Daemon]
) -> None:
    ran = tmp_path / "ran.txt"
    daemons.append(daemon := Daemon(config_for(tmp_path, engine_url)))
    (pid,) = daemon.wait_workers(1)
    job = SleepyJob.perform_later(str(ran), "long", 600.0)
    wait_until(lambda: any(line.startswith("start long") for line in lines(ran)), 10)
    job.abort()
    daemon.wait_log("running job interrupted", 10)
    after = QuickJob.set(destroy_on_complete=False).perform_all_later(
        [(str(ran), "a"), (str(ran), "b")]
    )
    wait_until(lambda: all(Job.find(j.id).state == "completed" for j in after), 10)
    assert Job.find(job.id).state == "aborted"
    assert daemon.workers() == [pid], "interrupted in its thread: no process killed"
    assert not any(line.startswith("done long") for line in lines(ran))
    assert daemon.stop() == 0


def test_max_jobs_recycles_the_worker_at_once(
    tmp_path: Path, engine_url: str, daemons: list[Daemon]
) -> None:
    ran = tmp_path / "ran.txt"
    daemons.append(daemon := Daemon(config_for(tmp_path, engine_url, max_jobs=5)))
    daemon.wait_workers(1)
    jobs = QuickJob.set(destroy_on_complete=False).perform_all_later(
        [(str(ran), f"j{i}") for i in range(22)]
    )
    wait_until(lambda: all(Job.find(j.id).state == "completed" for j in jobs), 30)
    pids = {line.split()[2] for line in lines(ran)}
    assert len(pids) >= 3, "a new process every 5 jobs (and the few claimed ahead)"
    log = daemon.log()
    assert log.count("worker recycled; replacing it") >= len(pids) - 1
    assert "backing off" not in log and "last words" not in log
    assert all(Job.find(j.id).crash_count == 0 for j in jobs)
    daemon.wait_workers(1, timeout=15)  # the replacement heartbeats its supervisor's count
    text = wait_until(lambda: (t := recycle_metrics()) and "rocketjob_worker_recycles_total{" in t
                    and t, 10)  # fmt: skip
    sample = [line for line in text.splitlines() if line.startswith("rocketjob_worker_recyc")]
    assert int(sample[0].rsplit(" ", 1)[1]) >= len(pids) - 1
    assert daemon.stop() == 0


def recycle_metrics() -> str:
    """The /metrics lines of worker recycles, from the servers' heartbeats."""
    from rocketjob.web.metrics import _recycles, _Writer

    out = _Writer()
    _recycles(out, rocketjob.current_store().list_servers())
    return "\n".join(out.lines)


def test_max_memory_mb_recycles_a_leaking_worker(
    tmp_path: Path, engine_url: str, daemons: list[Daemon]
) -> None:
    ran = tmp_path / "ran.txt"
    config = config_for(tmp_path, engine_url, threads=1, max_memory_mb=150)
    daemons.append(daemon := Daemon(config))
    (first,) = daemon.wait_workers(1)
    jobs = LeakJob.set(destroy_on_complete=False).perform_all_later(
        [(str(ran), f"leak{i}", 40) for i in range(6)]
    )
    wait_until(lambda: all(Job.find(j.id).state == "completed" for j in jobs), 30)
    pids = {int(line.split()[2]) for line in lines(ran)}
    assert first in pids and len(pids) >= 2
    assert "max_memory_mb: resident memory" in daemon.log()
    assert daemon.stop() == 0
