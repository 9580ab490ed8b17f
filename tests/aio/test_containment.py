"""Fault containment of coroutine jobs with a real daemon: recycling counts them
(``max_jobs``), and an aborted coroutine job that ignores its cancellation has its worker
process killed ``timeout_grace`` seconds later and replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.aio.jobs import AsyncNote, AsyncStubborn, read
from tests.integration.helpers import Daemon, write_config
from tests.support import wait_until

pytestmark = pytest.mark.slow


def _daemon(tmp_path: Path, url: str, daemons: list[Daemon], **worker: object) -> Daemon:
    config = write_config(tmp_path / "rj.toml", url, {"processes": 1},
                          {"imports": ["tests.aio.jobs"], **worker})  # fmt: skip
    daemons.append(daemon := Daemon(config))
    daemon.wait_workers(1, timeout=30)
    return daemon


def test_max_jobs_counts_coroutine_jobs(
    tmp_path: Path, store_url: str, daemons: list[Daemon]
) -> None:
    out = tmp_path / "out"
    jobs = AsyncNote.perform_all_later([(str(out), f"r{i}") for i in range(12)])
    _daemon(tmp_path, store_url, daemons, async_concurrency=1, max_jobs=5)
    wait_until(lambda: all(j.reload().completed for j in jobs), timeout=60)
    pids = {line.split()[2] for line in read(out) if line.startswith("done ")}
    assert len(pids) >= 3  # 12 jobs, a process recycled after every 5


def test_an_aborted_job_ignoring_its_cancellation_has_its_worker_replaced(
    tmp_path: Path, store_url: str, daemons: list[Daemon]
) -> None:
    out = tmp_path / "out"
    job = AsyncStubborn.perform_later(str(out))
    daemon = _daemon(tmp_path, store_url, daemons, timeout_grace=0.5)
    [first] = daemon.workers()
    wait_until(lambda: any(line.startswith("start stubborn") for line in read(out)), timeout=30)
    job.reload().abort()
    wait_until(lambda: any(line.startswith("ignored stubborn") for line in read(out)), timeout=30)
    wait_until(lambda: daemon.workers() and daemon.workers() != [first], timeout=30)
    assert job.reload().aborted
