"""Soft time limits in a worker's job threads (issue 16 item 3): JobTimeout raised in the
job's thread at its ``timeout``; the job is failed like any failure."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import rocketjob
from rocketjob import Job, ValidationError
from tests.conftest import running_worker
from tests.faults.jobs import QuickJob, SpinJob
from tests.integration.helpers import lines
from tests.support import wait_until


def test_a_job_past_its_timeout_fails_with_job_timeout(sqlite_url: str, tmp_path: Path) -> None:
    ran = tmp_path / "ran.txt"
    with running_worker(threads=2, imports=["tests.faults.jobs"]):
        began = time.monotonic()
        spin = SpinJob.perform_later(str(ran), "spin", 30.0)
        quick = QuickJob.set(destroy_on_complete=False).perform_later(str(ran), "quick")
        failed = wait_until(lambda: (j := Job.find(spin.id)).state == "failed" and j, 10)
        took = time.monotonic() - began
        wait_until(lambda: Job.find(quick.id).state == "completed", 10)
    assert failed.exception is not None
    assert failed.exception.class_name == "rocketjob.JobTimeout"
    assert "ran past its timeout of 0.5 s" in failed.exception.message
    assert failed.failure_count == 1
    assert 0.5 <= took < 3.0
    assert not any(line.startswith("done spin") for line in lines(ran))


def test_set_timeout_per_job_overrides_the_class(sqlite_url: str, tmp_path: Path) -> None:
    ran = tmp_path / "ran.txt"
    with running_worker(threads=1, imports=["tests.faults.jobs"]):
        job = SpinJob.set(timeout=5.0, destroy_on_complete=False).perform_later(
            str(ran), "long", 1.0
        )
        wait_until(lambda: Job.find(job.id).state == "completed", 10)
    assert Job.find(job.id).time_limit == 5.0


def test_bad_timeouts_are_refused_naming_the_attribute(sqlite_url: str) -> None:
    with pytest.raises(ValidationError, match=r"Broken.timeout must be a number"):

        class Broken(rocketjob.Job):
            timeout = -1

    for bad in (0, -2.5, "10", True):
        with pytest.raises(ValidationError, match=r"timeout must be a number of seconds"):
            QuickJob.set(timeout=bad).perform_later("x", "y")
