"""The non-blocking API for async applications on every store: aperform_later,
set(...).aperform_later, aperform_all_later, afind, areload; perform_now and
aperform_now of coroutine jobs; async callbacks of a job run outside a loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rocketjob import Job, JobNotFound
from rocketjob.lifecycle import Lifecycle
from tests.aio.jobs import AsyncNote, ThreadNote, read

CALLS: list[str] = []


class Doubler(Job):
    """A coroutine job with an async perform callback."""

    async def before_perform(self) -> None:
        CALLS.append("before_perform")

    async def perform(self, value: int) -> int:
        await asyncio.sleep(0)
        return value * 2


class ThreadWithAsyncRequeue(Job):
    """A thread job whose before_requeue is async def (run to completion on a thread)."""

    async def before_requeue(self) -> None:
        await asyncio.sleep(0)
        CALLS.append("before_requeue")

    def perform(self) -> None:
        return None


def test_enqueue_find_and_reload_without_blocking_the_loop(store_url: str, tmp_path: Path) -> None:
    async def scenario() -> tuple[list[Job], int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        ticking = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        before = ticks
        one = await AsyncNote.aperform_later(str(tmp_path), "one")
        urgent = await AsyncNote.set(priority=5).aperform_later(str(tmp_path), "urgent")
        many = await AsyncNote.aperform_all_later([(str(tmp_path), f"m{i}") for i in range(500)])
        found = await Job.afind(one.id or "")
        again = await urgent.areload()
        ticking.cancel()
        return [one, urgent, found, again, *many], ticks - before

    jobs, ticks = asyncio.run(scenario())
    one, urgent, found, again, *many = jobs
    assert ticks > 5  # the loop kept running while the store calls ran on a thread
    assert isinstance(found, AsyncNote) and found.id == one.id and found.queued
    assert again is urgent and urgent.priority == 5 and urgent.queued
    assert len(many) == 500 and Job.counts_by_state() == {"queued": 502}
    assert read(tmp_path / "x") == []


def test_afind_raises_job_not_found(store_url: str) -> None:
    with pytest.raises(JobNotFound):
        asyncio.run(Job.afind("nope"))


def test_aperform_later_validates_like_perform_later(store_url: str) -> None:
    from rocketjob import ValidationError

    with pytest.raises(ValidationError, match="priority"):
        asyncio.run(AsyncNote.set(priority=0).aperform_later("p", "t"))
    assert Job.counts_by_state() == {}


def test_perform_now_runs_a_coroutine_job_to_completion() -> None:
    CALLS.clear()
    assert Doubler.perform_now(21) == 42 and CALLS == ["before_perform"]


def test_perform_now_inside_a_loop_says_to_await_aperform_now() -> None:
    async def inside() -> object:
        return Doubler.perform_now(1)

    with pytest.raises(RuntimeError, match=r"await Doubler\.aperform_now\(\.\.\.\)"):
        asyncio.run(inside())


def test_aperform_now_awaits_coroutine_jobs_and_threads_thread_jobs(tmp_path: Path) -> None:
    async def both() -> tuple[object, object]:
        return await Doubler.aperform_now(4), await ThreadNote.aperform_now(
            str(tmp_path / "o"), "t"
        )

    assert asyncio.run(both()) == (8, None)
    assert [line.split()[:2] for line in read(tmp_path / "o")] == [["done", "t"]]


def test_an_async_callback_outside_a_loop_is_run_to_completion(store_url: str) -> None:
    from rocketjob import current_store
    from rocketjob.clock import utcnow
    from rocketjob.job import class_path
    from rocketjob.requeue import requeue_server_jobs

    CALLS.clear()
    job = ThreadWithAsyncRequeue.perform_later()
    current_store().claim_jobs(["h:9:1"], [class_path(ThreadWithAsyncRequeue)], utcnow())
    errors: list[str] = []

    def on_error(job: Lifecycle, name: str, exc: Exception) -> None:
        errors.append(repr(exc))

    assert requeue_server_jobs(current_store(), "h:9", on_error) == 1
    assert CALLS == ["before_requeue"] and errors == []
    assert job.reload().queued
