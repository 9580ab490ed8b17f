"""Behaviours across processes: real ``rocketjob -c`` daemons (several worker
processes, two daemons booting together) sharing one store. The store is a SQLite file
unless ``ROCKETJOB_TEST_STORE_URL`` names a PostgreSQL or MongoDB one."""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tests.conftest import REPO
from tests.integration.helpers import Daemon, write_config
from tests.plugins import jobs
from tests.support import wait_until

WORKER = {"imports": ["tests.plugins.jobs"], "threads": 4}


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one moment."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    current = peak = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


def intervals(path: Path, tag: str) -> list[tuple[float, float]]:
    """The (start, end) run intervals recorded with ``tag``."""
    rows = [line.split() for line in path.read_text().splitlines() if line.startswith(tag)]
    return [(float(row[1]), float(row[2])) for row in rows]


def test_throttles_hold_across_worker_processes(
    url: str,
    daemons: list[Daemon],
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path / "rj.toml", url, {"processes": 2}, WORKER)
    path = tmp_path / "runs"
    jobs.NarrowJob.perform_all_later([(str(path),) for _ in range(8)])
    jobs.GroupAJob.perform_all_later([(str(path),) for _ in range(4)])
    jobs.GroupBJob.perform_all_later([(str(path),) for _ in range(4)])
    daemons.append(Daemon(config))
    wait_until(lambda: path.exists() and len(path.read_text().splitlines()) == 16, timeout=60)
    narrow, group = intervals(path, "narrow"), intervals(path, "group")
    assert max_overlap(narrow) <= 2
    assert max_overlap(group) <= 3
    pids = {line.split()[3] for line in path.read_text().splitlines()}
    assert len(pids) == 2, "both worker processes ran jobs"
    assert daemons[0].stop() == 0


def test_two_daemons_booting_together_leave_one_cron_instance(
    url: str,
    daemons: list[Daemon],
    tmp_path: Path,
) -> None:
    for name in ("a", "b"):
        config = write_config(tmp_path / f"{name}.toml", url, {"processes": 2}, WORKER)
        daemons.append(Daemon(config))
    for daemon in daemons:
        daemon.wait_workers(2, timeout=30)
    active = jobs.TickJob.where(["queued", "running", "paused"])
    assert len(active) == 1 and active[0].scheduled
    for daemon in daemons:
        assert daemon.stop() == 0


def test_retry_with_worker_processes(
    url: str,
    daemons: list[Daemon],
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path / "rj.toml", url, {"processes": 2}, WORKER)
    path = tmp_path / "runs"
    job = jobs.FlakyJob.perform_later(str(path))
    daemons.append(Daemon(config))
    wait_until(lambda: job.reload().failed and job.failure_count == 3, timeout=30)
    assert len(path.read_text().splitlines()) == 3
    assert daemons[0].stop() == 0


def test_singleton_across_processes(url: str) -> None:
    start_at = time.time() + 2.0
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(4, mp_context=context, initializer=os.chdir,
                             initargs=(str(REPO),)) as pool:  # fmt: skip
        results = [f.result(60) for f in
                   [pool.submit(jobs.enqueue_lonely, url, start_at) for _ in range(4)]]  # fmt: skip
    assert sorted(results) == [False, False, False, True]
    assert jobs.LonelyJob.counts_by_state() == {"queued": 1}
