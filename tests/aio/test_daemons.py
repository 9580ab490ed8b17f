"""Coroutine jobs with real ``rocketjob -c`` daemons on SQLite, PostgreSQL and MongoDB:
awaited to completion beside thread jobs, async callbacks, failure and retry, time
limits, an abort cancelling a running job, drain on TERM, requeue on QUIT, a worker
SIGKILLed mid-run, and a job blocking the loop reported."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from rocketjob import Job
from tests.aio.jobs import (
    AsyncBlocker,
    AsyncBlockerTimed,
    AsyncCallbacks,
    AsyncChain,
    AsyncFail,
    AsyncHang,
    AsyncNote,
    AsyncTimeout,
    ThreadNote,
    read,
)
from tests.conftest import REPO
from tests.integration.helpers import ROCKETJOB, Daemon, write_config
from tests.support import wait_until

pytestmark = pytest.mark.slow
IMPORTS = ["tests.aio.jobs"]


def _daemon(tmp_path: Path, url: str, daemons: list[Daemon], **worker: Any) -> Daemon:
    config = write_config(tmp_path / "rj.toml", url, {"processes": 1},
                          {"imports": IMPORTS, **worker})  # fmt: skip
    daemons.append(daemon := Daemon(config))
    daemon.wait_workers(1, timeout=30)
    return daemon


def _lines(path: Path, word: str) -> list[str]:
    return [line.split()[1] for line in read(path) if line.startswith(word + " ")]


def test_coroutine_jobs_are_awaited_beside_thread_jobs(
    tmp_path: Path, store_url: str, daemons: list[Daemon]
) -> None:
    out = tmp_path / "out"
    coroutines = AsyncNote.perform_all_later([(str(out), f"a{i}", 0.2) for i in range(30)])
    threads = ThreadNote.perform_all_later([(str(out), f"t{i}") for i in range(5)])
    _daemon(tmp_path, store_url, daemons, async_concurrency=40)
    wait_until(lambda: all(j.reload().completed for j in coroutines + threads), timeout=60)
    assert sorted(_lines(out, "done")) == sorted([f"a{i}" for i in range(30)] +
                                                 [f"t{i}" for i in range(5)])  # fmt: skip
    assert [j.result for j in coroutines] == [f"a{i}" for i in range(30)]
    # 30 jobs of 0.2 s on 40 slots ran at once: every one started before any finished
    lines = [line.split()[0] for line in read(out) if " a" in line]
    assert lines[:30] == ["start"] * 30


def test_enqueue_from_a_running_loop_while_a_daemon_runs_the_jobs(
    tmp_path: Path, store_url: str, daemons: list[Daemon]
) -> None:
    """aperform_later, aperform_all_later, afind and areload awaited in a running loop
    (the store's async driver; a thread for SQLite) while a real worker claims and runs
    the jobs, one of which enqueues from inside the worker's own loop. The loop is never
    blocked: a ticker task runs while every enqueue waits on the database."""
    out = tmp_path / "out"
    _daemon(tmp_path, store_url, daemons, async_concurrency=50)

    async def scenario() -> tuple[list[Job], int, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        ticking = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        before = ticks
        jobs: list[Job] = [await AsyncNote.aperform_later(str(out), f"s{i}") for i in range(60)]
        during = ticks - before
        jobs += await asyncio.gather(*(ThreadNote.aperform_later(str(out), f"t{i}")
                                       for i in range(40)))  # fmt: skip
        jobs += await AsyncNote.aperform_all_later([(str(out), f"m{i}") for i in range(100)])
        jobs += [await AsyncChain.set(priority=5).aperform_later(str(out), "c")]
        found = await Job.afind(jobs[0].id or "")
        assert isinstance(found, AsyncNote) and found.id == jobs[0].id
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while True:  # wait for the worker, polling without blocking the loop
            states = [(await job.areload()).completed for job in jobs]
            if all(states) or loop.time() > deadline:
                break
            await asyncio.sleep(0.2)
        ticking.cancel()
        return jobs, during, ticks

    jobs, during, _ = asyncio.run(scenario())
    assert all(job.completed for job in jobs)
    assert during >= 60  # the ticker ran while each of the 60 enqueues awaited the store
    wait_until(lambda: "c-child" in _lines(out, "done"), timeout=30)
    assert sorted(_lines(out, "done")) == sorted(
        [f"s{i}" for i in range(60)] + [f"t{i}" for i in range(40)]
        + [f"m{i}" for i in range(100)] + ["c-child"]
    )  # fmt: skip
    assert _lines(out, "chained") == ["c"]


def test_each_event_loop_gets_its_own_store_connection(store_url: str, tmp_path: Path) -> None:
    """Loops on several threads at once, and one asyncio.run after another: each loop has
    its own connection (pymongo's async client refuses to serve a second loop)."""
    out = str(tmp_path / "out")

    def in_a_loop(n: int) -> list[str]:
        async def scenario() -> list[str]:
            jobs = await asyncio.gather(*(AsyncNote.aperform_later(out, f"{n}-{i}")
                                          for i in range(20)))  # fmt: skip
            return [(await Job.afind(job.id or "")).id or "" for job in jobs]

        return asyncio.run(scenario())

    with ThreadPoolExecutor(3) as pool:
        ids = [i for found in pool.map(in_a_loop, range(3)) for i in found]
    ids += in_a_loop(3) + in_a_loop(4)
    assert len(set(ids)) == 100 and AsyncNote.counts_by_state() == {"queued": 100}


def test_async_callbacks_run_in_order(
    tmp_path: Path, store_url: str, daemons: list[Daemon]
) -> None:
    job = AsyncCallbacks.perform_later()
    _daemon(tmp_path, store_url, daemons)
    wait_until(lambda: job.reload().completed, timeout=30)
    assert job.calls == ["before_start", "after_start", "before_perform", "around_in",
                         "perform", "around_out", "after_perform", "before_complete"]  # fmt: skip


def test_a_failing_coroutine_job_is_retried_then_failed(
    tmp_path: Path, store_url: str, daemons: list[Daemon]
) -> None:
    job = AsyncFail.perform_later("no luck")
    _daemon(tmp_path, store_url, daemons)
    wait_until(lambda: job.reload().failed and job.failure_count == 2, timeout=30)
    assert job.exception.class_name == "ValueError" and job.exception.message == "no luck"
    assert ":a" in job.exception.worker_name  # ran on a slot of the event loop


def test_a_coroutine_job_past_its_timeout_fails_with_job_timeout(
    tmp_path: Path, store_url: str, daemons: list[Daemon]
) -> None:
    out = tmp_path / "out"
    job = AsyncTimeout.perform_later(str(out), "slow")
    _daemon(tmp_path, store_url, daemons)
    wait_until(lambda: job.reload().failed, timeout=30)
    assert job.exception.class_name == "rocketjob.JobTimeout"
    assert "timeout of 0.5 s" in job.exception.message
    assert _lines(out, "cancelled") == ["slow"] and _lines(out, "done") == []


def test_aborting_a_running_coroutine_job_cancels_it(
    tmp_path: Path, store_url: str, daemons: list[Daemon]
) -> None:
    out = tmp_path / "out"
    job = AsyncHang.perform_later(str(out), "long")
    other = AsyncNote.perform_later(str(out), "after", 0.0)
    _daemon(tmp_path, store_url, daemons, async_concurrency=1)
    wait_until(lambda: _lines(out, "start") == ["long"], timeout=30)
    job.reload().abort()
    wait_until(lambda: _lines(out, "cancelled") == ["long"], timeout=30)
    wait_until(lambda: other.reload().completed, timeout=30)  # its slot was freed
    assert job.reload().aborted and _lines(out, "done") == ["after"]


def test_term_drains_running_coroutine_jobs(
    tmp_path: Path, store_url: str, daemons: list[Daemon]
) -> None:
    out = tmp_path / "out"
    job = AsyncHang.perform_later(str(out), "short", 1.0)
    daemon = _daemon(tmp_path, store_url, daemons)
    wait_until(lambda: _lines(out, "start") == ["short"], timeout=30)
    assert daemon.stop(30) == 0
    assert _lines(out, "done") == ["short"] and job.reload().completed


def test_quit_requeues_running_coroutine_jobs(
    tmp_path: Path, store_url: str, daemons: list[Daemon]
) -> None:
    out = tmp_path / "out"
    job = AsyncHang.perform_later(str(out), "long")
    daemon = _daemon(tmp_path, store_url, daemons)
    wait_until(lambda: _lines(out, "start") == ["long"], timeout=30)
    daemon.signal(signal.SIGQUIT)
    assert daemon.wait(30) == 0
    assert job.reload().queued and job.worker_name is None and job.failure_count == 0
    assert _lines(out, "cancelled") == ["long"]


def test_a_coroutine_job_of_a_killed_worker_is_requeued_and_run_again(
    tmp_path: Path, store_url: str, daemons: list[Daemon]
) -> None:
    out = tmp_path / "out"
    job = AsyncHang.perform_later(str(out), "crash", 2.0)
    daemon = _daemon(tmp_path, store_url, daemons)
    wait_until(lambda: _lines(out, "start") == ["crash"], timeout=30)
    first = int(read(out)[0].split()[2])
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: len(_lines(out, "start")) == 2, timeout=60)
    assert Job.find(job.id or "").crash_count == 1  # it was running: a crash counted
    wait_until(lambda: job.reload().completed, timeout=60)
    runs = [int(line.split()[2]) for line in read(out) if line.startswith("start ")]
    assert len(runs) == 2 and runs[0] == first and runs[1] != first
    assert _lines(out, "done") == ["crash"]
    daemon.stop(30)


def test_a_coroutine_job_blocking_past_its_hard_limit_has_its_worker_replaced(
    tmp_path: Path, store_url: str, daemons: list[Daemon]
) -> None:
    out = tmp_path / "out"
    job = AsyncBlockerTimed.perform_later(str(out), 30.0)
    daemon = _daemon(tmp_path, store_url, daemons, timeout_grace=0.5)
    wait_until(lambda: job.reload().failed, timeout=30)
    assert job.exception.class_name == "rocketjob.JobTimeout"
    assert _lines(out, "done") == []
    daemon.wait_workers(1, timeout=30)  # replaced


def test_a_job_blocking_the_loop_is_reported_with_its_id(
    tmp_path: Path, store_url: str, daemons: list[Daemon]
) -> None:
    job = AsyncBlocker.perform_later(0.6)
    daemon = _daemon(tmp_path, store_url, daemons)
    wait_until(lambda: job.reload().completed, timeout=30)
    daemon.wait_log("event loop blocked by a coroutine job")
    [line] = [ln for ln in daemon.log().splitlines() if "event loop blocked" in ln]
    assert job.id in line
    blocked = float(line.split("blocked_ms=")[1].split()[0].strip(",'}"))
    assert 500 <= blocked < 5000


def test_servers_list_shows_busy_slots_beside_busy_threads(
    tmp_path: Path, store_url: str, daemons: list[Daemon]
) -> None:
    out = tmp_path / "out"
    AsyncHang.perform_all_later([(str(out), f"h{i}") for i in range(3)])
    config = write_config(tmp_path / "rj.toml", store_url, {"processes": 1},
                          {"imports": IMPORTS, "async_concurrency": 7})  # fmt: skip
    daemons.append(daemon := Daemon(config))
    wait_until(lambda: len(_lines(out, "start")) == 3, timeout=30)

    def listed() -> dict[str, Any] | None:
        command = [*ROCKETJOB, "-c", str(config), "servers", "list", "--json"]
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
        [server] = json.loads(done.stdout)
        return server if server["async_busy"] == 3 else None

    server = wait_until(listed, timeout=30)
    assert server["async_slots"] == 7 and server["busy"] == 0 and server["threads"] == 2
    daemon.signal(signal.SIGQUIT)
    daemon.wait(30)
    assert all(j.queued for j in Job.where(job_class=AsyncHang))
