"""Behaviours of coroutine jobs with a real daemon on every store: throttles across the
loop's slots, cron's next instance, processing windows, singletons."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from rocketjob import DuplicateJob, Job
from tests.aio.behaviour_jobs import AsyncCron, AsyncSingleton, AsyncThrottled, AsyncWindowed
from tests.aio.jobs import read
from tests.integration.helpers import Daemon, write_config
from tests.support import wait_until

pytestmark = pytest.mark.slow


def _daemon(tmp_path: Path, url: str, daemons: list[Daemon]) -> Daemon:
    config = write_config(tmp_path / "rj.toml", url, {"processes": 1},
                          {"imports": ["tests.aio.behaviour_jobs"]})  # fmt: skip
    daemons.append(daemon := Daemon(config))
    daemon.wait_workers(1, timeout=30)
    return daemon


def test_behaviours_of_coroutine_jobs(
    tmp_path: Path, store_url: str, daemons: list[Daemon]
) -> None:
    out = tmp_path / "out"
    throttled = AsyncThrottled.perform_all_later([(str(out), f"t{i}") for i in range(3)])
    windowed = AsyncWindowed.perform_later(str(out))
    _daemon(tmp_path, store_url, daemons)

    # a processing window closed now: re-scheduled at its next opening, never run
    wait_until(lambda: windowed.reload().run_at is not None, timeout=30)
    assert windowed.queued and windowed.run_at > dt.datetime.now(dt.UTC)
    # throttle_running_jobs = 1: one at a time although 100 slots are free
    wait_until(lambda: all(j.reload().completed for j in throttled), timeout=30)
    words = [line.split()[0] for line in read(out) if line.split()[1].startswith("t")]
    assert words == ["start", "done"] * 3
    # cron: the boot scheduled one instance; run it now, and the next one is scheduled
    [first] = Job.where(state="queued", job_class=AsyncCron)
    first.run_now()

    def next_instance() -> Job | None:
        queued = Job.where(state="queued", job_class=AsyncCron)
        return queued[0] if len(queued) == 1 and queued[0].id != first.id else None

    following = wait_until(next_instance, timeout=30)
    assert following.run_at is not None and following.run_at > dt.datetime.now(dt.UTC)
    # singleton: a second instance while one runs is refused at enqueue
    AsyncSingleton.perform_later(str(out))
    wait_until(lambda: "start singleton" in " ".join(read(out)), timeout=30)
    with pytest.raises(DuplicateJob):
        AsyncSingleton.perform_later(str(out))
    assert "ran windowed" not in " ".join(read(out))
