"""rocketjob.testing: inline(), drain() and temporary_store() on real SQLite files."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

import rocketjob
from rocketjob import BatchJob, Job, JobState, testing
from rocketjob.testing import DrainLimitReached

#: (job class name, event) in the order they happened.
CALLS: list[tuple[str, str]] = []


@pytest.fixture(autouse=True)
def fresh_store() -> Any:
    CALLS.clear()
    with testing.temporary_store() as store:
        yield store


class Recorded(Job):
    destroy_on_complete = False
    collect_output = True

    def before_start(self) -> None:
        CALLS.append(("Recorded", "before_start"))

    def after_start(self) -> None:
        CALLS.append(("Recorded", "after_start"))

    def before_perform(self) -> None:
        CALLS.append(("Recorded", "before_perform"))

    def perform(self, a: int, b: int = 0) -> int:
        CALLS.append(("Recorded", "perform"))
        return a + b

    def after_perform(self) -> None:
        CALLS.append(("Recorded", "after_perform"))

    def before_complete(self) -> None:
        CALLS.append(("Recorded", "before_complete"))

    def after_complete(self) -> None:
        CALLS.append(("Recorded", "after_complete"))


class Boom(Job):
    def perform(self, message: str) -> None:
        raise ValueError(message)

    def after_fail(self) -> None:
        CALLS.append(("Boom", "after_fail"))


class Flaky(Job):
    """Fails until it has failed ``failures`` times; retries after an hour on a worker."""

    retry_limit = 3
    collect_output = True

    def perform(self, failures: int) -> str:
        CALLS.append(("Flaky", f"attempt {self.failure_count + 1}"))
        if self.failure_count < failures:
            raise RuntimeError(f"failure {self.failure_count + 1}")
        return "done"

    def retry_delay(self, attempt: int) -> float:
        return 3600.0


class Parent(Job):
    def perform(self, depth: int) -> None:
        CALLS.append(("Parent", f"start {depth}"))
        if depth > 0:
            child = Parent.perform_later(depth - 1)
            CALLS.append(("Parent", f"child {child.state}"))  # queued, as with a worker
        CALLS.append(("Parent", f"end {depth}"))


class Forever(Job):
    def perform(self) -> None:
        Forever.perform_later()


class Simple(Job):
    def perform(self, name: str) -> None:
        CALLS.append(("Simple", name))


def test_inline_runs_perform_later_at_once_with_callbacks_and_result() -> None:
    with testing.inline():
        job = Recorded.perform_later(40, b=2)
    assert job.completed and job.state == JobState.COMPLETED
    assert job.result == 42 and job.percent_complete == 100
    assert [event for _, event in CALLS] == [
        "before_start", "after_start", "before_perform", "perform", "after_perform",
        "before_complete", "after_complete",
    ]  # fmt: skip
    stored = Job.find(job.id or "")  # the real store holds what a worker would write
    assert stored.completed and stored.result == 42
    assert stored.worker_name is not None and stored.started_at is not None


def test_inline_failure_is_kept_on_the_job_not_raised() -> None:
    with testing.inline():
        job = Boom.perform_later("bad input")
    assert job.failed and job.failure_count == 1
    assert job.exception is not None
    assert (job.exception.class_name, job.exception.message) == ("ValueError", "bad input")
    assert any("raise ValueError(message)" in line for line in job.exception.backtrace)
    assert CALLS == [("Boom", "after_fail")]
    assert Job.find(job.id or "").failed


def test_inline_runs_retries_at_once_ignoring_the_back_off() -> None:
    with testing.inline():
        job = Flaky.perform_later(2)
    assert job.completed and job.result == "done" and job.failure_count == 2
    assert CALLS == [("Flaky", "attempt 1"), ("Flaky", "attempt 2"), ("Flaky", "attempt 3")]


def test_inline_retries_stop_at_the_retry_limit() -> None:
    with testing.inline():
        job = Flaky.perform_later(10)
    assert job.failed and job.failure_count == 4  # the first run and 3 retries
    assert job.exception is not None and job.exception.message == "failure 4"
    assert len(CALLS) == 4


def test_inline_runs_perform_all_later_and_create() -> None:
    with testing.inline():
        jobs = Simple.perform_all_later([("a",), {"name": "b"}])
        created = Simple.create(args=["c"])
    assert [job.state for job in [*jobs, created]] == ["completed"] * 3
    assert CALLS == [("Simple", "a"), ("Simple", "b"), ("Simple", "c")]
    assert Job.counts_by_state() == {}  # destroyed on completion, as on a worker


def test_inline_runs_jobs_enqueued_by_jobs_after_them() -> None:
    with testing.inline():
        job = Parent.perform_later(2)
    assert job.completed
    assert CALLS == [
        ("Parent", "start 2"), ("Parent", "child queued"), ("Parent", "end 2"),
        ("Parent", "start 1"), ("Parent", "child queued"), ("Parent", "end 1"),
        ("Parent", "start 0"), ("Parent", "end 0"),
    ]  # fmt: skip
    assert Job.counts_by_state() == {}


def test_inline_bounds_a_chain_that_never_ends() -> None:
    with testing.inline(max_jobs=5), pytest.raises(DrainLimitReached) as caught:
        Forever.perform_later()
    assert "inline: 1 job(s) still queued after running 5" in str(caught.value)
    assert Job.counts_by_state() == {"queued": 1}


def test_inline_leaves_scheduled_jobs_queued() -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    with testing.inline():
        job = Simple.set(run_at=later).perform_later("later")
    assert job.queued and job.scheduled and CALLS == []
    assert testing.drain() == []  # not due
    (ran,) = testing.drain(include_scheduled=True)
    assert ran.id == job.id and ran.completed and CALLS == [("Simple", "later")]


def test_outside_inline_jobs_are_only_queued() -> None:
    with testing.inline():
        pass
    job = Simple.perform_later("x")
    assert job.queued and CALLS == []
    assert Job.find(job.id or "").queued


def test_drain_runs_every_queued_job_and_those_they_enqueue() -> None:
    low = Simple.set(priority=90).perform_later("low")
    high = Simple.set(priority=10).perform_later("high")
    chain = Parent.perform_later(2)
    failing = Boom.perform_later("nope")
    jobs = testing.drain()
    assert CALLS[:2] == [("Simple", "high"), ("Parent", "start 2")]  # claim order
    assert ("Simple", "low") in CALLS and ("Parent", "start 0") in CALLS
    by_id = {job.id: job for job in jobs}
    assert {low.id, high.id, chain.id, failing.id} <= set(by_id)
    assert len(jobs) == 6  # and the two children of the chain
    assert isinstance(by_id[low.id], Simple) and by_id[low.id].completed  # destroyed
    assert by_id[failing.id].failed and by_id[failing.id].exception is not None
    assert all(job.completed for job in jobs if job.id != failing.id)
    assert Job.counts_by_state() == {"failed": 1}


def test_drain_runs_retries_at_once() -> None:
    job = Flaky.perform_later(1)
    (ran,) = testing.drain()
    assert ran.id == job.id and ran.completed and ran.failure_count == 1


def test_drain_raises_naming_how_many_are_still_queued() -> None:
    Forever.perform_later()
    Forever.perform_later()
    with pytest.raises(DrainLimitReached) as caught:
        testing.drain(max_rounds=3)
    message = str(caught.value)
    assert "drain: 2 job(s) still queued after 3 rounds" in message
    assert "tests.test_testing.Forever" in message and "max_rounds" in message
    with pytest.raises(ValueError, match="max_rounds must be a positive integer"):
        testing.drain(max_rounds=0)


def test_drain_leaves_jobs_of_unknown_classes_queued(fresh_store: Any) -> None:
    job = Simple.perform_later("never")
    fresh_store.update_job(job.id, {"job_class": "nowhere.Missing"})
    assert testing.drain() == []
    assert Job.counts_by_state() == {"queued": 1} and CALLS == []


def test_temporary_store_puts_the_previous_store_back(tmp_path: Path) -> None:
    outer = testing.temporary_store()
    with outer as first:
        assert rocketjob.current_store() is first
        Simple.perform_later("in first")
        with testing.temporary_store() as second:
            assert rocketjob.current_store() is second
            assert Job.counts_by_state() == {}
        assert rocketjob.current_store() is first
        assert Job.counts_by_state() == {"queued": 1}
        folder = Path(first.url.removeprefix("sqlite:///")).parent
    assert not folder.exists()


class Squares(BatchJob):
    slice_size = 2
    collect_output = True

    def before_batch(self) -> None:
        CALLS.append(("Squares", "before_batch"))

    def perform(self, record: Any) -> object:
        if record == "bad":
            raise ValueError("bad record")
        return int(record) ** 2

    def after_batch(self) -> None:
        CALLS.append(("Squares", "after_batch"))


def test_drain_runs_a_batch_job_and_its_slices() -> None:
    job = Squares.upload([1, 2, 3, 4, 5])
    (ran,) = testing.drain()
    assert ran.id == job.id and ran.completed
    assert list(Squares.find(job.id or "").output()) == [1, 4, 9, 16, 25]
    assert CALLS == [("Squares", "before_batch"), ("Squares", "after_batch")]


def test_drain_fails_a_batch_job_with_a_failed_record() -> None:
    job = Squares.upload([1, "bad", 3])
    (ran,) = testing.drain()
    assert ran.failed
    ((number, record, error),) = Squares.find(job.id or "").failed_records()
    assert (number, record, error.message) == (2, "bad", "bad record")


class Awaited(Job):
    collect_output = True

    async def before_perform(self) -> None:
        CALLS.append(("Awaited", "before_perform"))

    async def perform(self, value: int) -> int:
        await asyncio.sleep(0)
        CALLS.append(("Awaited", "perform"))
        return value * 2


def test_coroutine_jobs_are_awaited_by_inline_and_drain_never_run_on_a_thread() -> None:
    with testing.inline():
        job = Awaited.perform_later(21)
    assert job.completed and job.result == 42
    assert CALLS == [("Awaited", "before_perform"), ("Awaited", "perform")]
    queued = Awaited.perform_later(1)
    [ran] = testing.drain()
    assert ran.id == queued.id and ran.completed and ran.result == 2


def test_inline_runs_coroutine_jobs_inside_an_async_test_too() -> None:
    async def enqueue() -> Awaited:
        with testing.inline():
            return await Awaited.aperform_later(5)

    assert asyncio.run(enqueue()).result == 10
