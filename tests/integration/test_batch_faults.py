"""Fault containment of batch job slices with real daemons and real process deaths, on
SQLite and PostgreSQL (rocketjob.batch.crashes): a record that kills its worker fails its
slice after exactly ``max_crashes`` crashes while the other slices complete, and a record
stuck past its slice's hard time limit has its worker killed and its slice failed with
JobTimeout."""

from __future__ import annotations

import collections
import time
from pathlib import Path

import pytest

from rocketjob import Job
from tests.batch.jobs import HangingBatchJob, PoisonBatchJob
from tests.integration.helpers import Daemon, lines, write_config
from tests.support import wait_until

pytestmark = pytest.mark.slow


def _config(tmp_path: Path, url: str, **worker: object) -> Path:
    settings = {"threads": 3, "imports": ["tests.batch.jobs"], "max_crashes": 3,
                "timeout_grace": 1.0, **worker}  # fmt: skip
    return write_config(tmp_path / "rj.toml", url, {"processes": 1}, settings)


def _runs(log: Path) -> collections.Counter[int]:
    return collections.Counter(int(line.split()[1]) for line in lines(log))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["exit", "kill"])
def test_a_poison_record_fails_its_slice_after_max_crashes(
    tmp_path: Path, engine_url: str, daemons: list[Daemon], how: str
) -> None:
    log = tmp_path / "ran.txt"
    job = PoisonBatchJob.upload(range(60), log=str(log), poison=22, how=how)
    daemons.append(daemon := Daemon(_config(tmp_path, engine_url)))
    daemon.wait_workers(1)
    wait_until(lambda: job.reload().failed, timeout=60, interval=0.1)
    assert job.exception is not None and job.exception.class_name.endswith("BatchFailed")
    [(number, record, exc)] = job.failed_records()  # no innocent slice beside it failed
    assert (number, record) == (23, 22)
    assert exc.class_name == "rocketjob.WorkerCrashed"
    expected = {"exit": "exit 17", "kill": "SIGKILL"}[how]
    assert expected in exc.message and "3 times" in exc.message
    assert "slice 5 of batch job" in exc.message and "record 23 was running" in exc.message
    assert job.slice_counts() == {"queued": 0, "running": 0, "completed": 11, "failed": 1}
    runs = _runs(log)
    assert runs[22] == 3, "the poison record ran exactly max_crashes times"
    assert set(runs) == set(range(60)) - {23, 24}, "all but those after it in its slice"
    assert daemon.stop() == 0


@pytest.mark.timeout(120)
def test_a_slice_past_its_hard_time_limit_is_failed_with_its_worker_killed(
    tmp_path: Path, engine_url: str, daemons: list[Daemon]
) -> None:
    log = tmp_path / "ran.txt"
    job = HangingBatchJob.upload(range(20), log=str(log), hang=7)
    daemons.append(daemon := Daemon(_config(tmp_path, engine_url)))
    (first,) = daemon.wait_workers(1)
    wait_until(lambda: 7 in _runs(log), timeout=30)
    began = time.monotonic()
    wait_until(lambda: job.reload().failed, timeout=30, interval=0.05)
    assert time.monotonic() - began < 0.5 + 1.0 + 3.0, "within timeout + timeout_grace + 3 s"
    [(number, record, exc)] = job.failed_records()
    assert (number, record) == (8, 7)
    assert exc.class_name == "rocketjob.JobTimeout"
    assert "slice 2 of batch job" in exc.message and "hard time limit" in exc.message
    assert "record 8" in exc.message and "SIGKILL" in exc.message
    assert job.slice_counts() == {"queued": 0, "running": 0, "completed": 3, "failed": 1}
    (second,) = daemon.wait_workers(1, timeout=15)
    assert second != first, "the process was killed and replaced"
    assert daemon.stop() == 0


@pytest.mark.timeout(60)
def test_a_running_batch_shows_its_progress_in_job_listings(
    tmp_path: Path, engine_url: str, daemons: list[Daemon]
) -> None:
    log = tmp_path / "ran.txt"
    job = PoisonBatchJob.upload(range(150), log=str(log))  # 30 slices, 1.5 s on one thread
    daemons.append(daemon := Daemon(_config(tmp_path, engine_url, threads=1)))
    daemon.wait_workers(1)

    def listed() -> int:
        [row] = [j for j in Job.where("running") if j.id == job.id] or [None]
        return 0 if row is None else row.percent_complete

    shown = wait_until(lambda: 0 < listed() < 100 and listed(), timeout=30, interval=0.05)
    assert 0 < shown < 100
    wait_until(lambda: job.reload().completed, timeout=30, interval=0.1)
    assert job.percent_complete == 100
    assert daemon.stop() == 0
