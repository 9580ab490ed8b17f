"""Fault test at the daemon level: PostgreSQL restarted during a run of 1,000 jobs loses
none and runs none twice.

A real ``rocketjob -c`` daemon (2 worker processes x 4 threads) works on a private,
throw-away PostgreSQL cluster made with initdb / pg_ctl (tests/store/faultservers.py),
never the shared server on 5432. Each job appends ``start <id> <pid>`` and ``done <id>
<pid>`` lines to one file; the cluster is stopped (``pg_ctl -m fast``: every client is
disconnected) once a fifth of the jobs are done and started again once the workers have
noticed. Every id must then appear exactly once as started and once as done.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

import rocketjob
from rocketjob import Job
from tests.integration.helpers import Daemon, lines, write_config
from tests.integration.jobs import SleepJob
from tests.store.faultservers import PrivatePostgres, running
from tests.support import wait_until

pytestmark = pytest.mark.slow

JOBS = 1000


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A private cluster the test may stop and start (skipped, or failed in CI, when
    initdb is not available)."""
    with running(PrivatePostgres()) as server:
        yield server


def _count(path: Path, word: str) -> Counter[str]:
    """How many ``<word> <id> <pid>`` lines each id has."""
    return Counter(line.split()[1] for line in lines(path) if line.startswith(f"{word} "))


@pytest.mark.timeout(300)
def test_postgres_restart_mid_run_loses_no_job_and_runs_none_twice(
    tmp_path: Path, private_postgres: PrivatePostgres, daemons: list[Daemon]
) -> None:
    ran = tmp_path / "ran.txt"
    url = private_postgres.url
    rocketjob.connect(url)
    try:
        # zombie_seconds as in production: the outage must not make live servers look dead.
        config = write_config(tmp_path / "rj.toml", url, {"processes": 2},
                              {"threads": 4, "zombie_seconds": 60})  # fmt: skip
        daemons.append(daemon := Daemon(config))
        daemon.wait_workers(2)
        ids = [f"j{i:04d}" for i in range(JOBS)]
        SleepJob.perform_all_later([(str(ran), tag, 0.02) for tag in ids])
        wait_until(
            lambda: sum(_count(ran, "done").values()) >= JOBS // 5, timeout=60, interval=0.05
        )
        private_postgres.stop()
        done_at_stop = sum(_count(ran, "done").values())
        offset = daemon.wait_log("heartbeat failed", timeout=30)
        private_postgres.start()
        wait_until(lambda: sum(_count(ran, "done").values()) >= JOBS, timeout=180, interval=0.2)
        wait_until(lambda: Job.counts_by_state() == {}, timeout=60, interval=0.2)
        started, done = _count(ran, "start"), _count(ran, "done")
        assert done_at_stop < JOBS, "the restart happened after the run"
        assert offset >= 0
        assert sorted(done) == ids and set(done.values()) == {1}, done.most_common(3)
        assert sorted(started) == ids and set(started.values()) == {1}, started.most_common(3)
        assert daemon.stop(timeout=30) == 0
    finally:
        rocketjob.disconnect()
