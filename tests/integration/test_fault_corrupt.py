"""A job whose stored document cannot be decoded (issue 16 item 5), with a real daemon:
the worker fails it with rocketjob.CorruptJob naming the field and keeps running;
``jobs list``, ``jobs show`` and Mission Control show it as such."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rocketjob import Job
from tests.conftest import REPO
from tests.integration.faults import engine_kind
from tests.integration.helpers import Daemon, lines, write_config
from tests.integration.jobs import AppendJob
from tests.store.corrupting import corrupt_job
from tests.support import wait_until

pytestmark = pytest.mark.slow


def rocketjob_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rocketjob", "-c", str(config), *args], cwd=REPO,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_corrupt_job_is_failed_not_crashing_the_worker(
    tmp_path: Path, engine_url: str, daemons: list[Daemon]
) -> None:
    ran = tmp_path / "ran.txt"
    bad = AppendJob.perform_later(str(ran), "bad")
    field = corrupt_job(engine_kind(engine_url), engine_url, bad.id or "")
    listing = rocketjob_cli(write_config(tmp_path / "rj.toml", engine_url), "jobs", "list")
    assert listing.returncode == 0 and "Traceback" not in listing.stderr
    assert bad.id in listing.stdout and "corrupt" in listing.stdout
    config = write_config(tmp_path / "rj.toml", engine_url, {"processes": 1}, {"threads": 2})
    daemons.append(daemon := Daemon(config))
    (pid,) = daemon.wait_workers(1)
    good = AppendJob.perform_all_later([(str(ran), f"good{i}") for i in range(20)])
    failed = wait_until(lambda: (job := Job.find(bad.id)).state == "failed" and job, 20)
    wait_until(lambda: len(lines(ran)) >= len(good), 20)
    assert sorted(lines(ran)) == sorted(f"good{i}" for i in range(20))
    assert failed.exception is not None
    assert failed.exception.class_name == "rocketjob.CorruptJob"
    assert repr(field) in failed.exception.message and bad.id in failed.exception.message
    assert daemon.workers() == [pid], "the worker that claimed it did not crash"
    assert "worker crashed" not in daemon.log()

    show = rocketjob_cli(config, "jobs", "show", bad.id or "")
    assert show.returncode == 0 and "Traceback" not in show.stderr
    assert "rocketjob.CorruptJob" in show.stdout and f"{field}: " in show.stdout
    assert daemon.stop() == 0
