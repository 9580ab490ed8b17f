"""rocketjob.testing and the otel trace context on every store: inline() and drain() on the
current store (SQLite, PostgreSQL, MongoDB), through the worker's Executor."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

import rocketjob.otel
from rocketjob import Job, connection, testing
from tests.store.conftest import StoreEnv
from tests.test_testing import CALLS, Boom, Flaky, Parent, Recorded


@pytest.fixture
def current(store_env: StoreEnv) -> Iterator[StoreEnv]:
    CALLS.clear()
    with connection.using(store_env.url):
        yield store_env


def test_inline_on_every_store(current: StoreEnv) -> None:
    assert connection.current_store().url == current.url
    with testing.inline():
        done = Recorded.perform_later(40, b=2)
        failed = Boom.perform_later("bad")
        retried = Flaky.perform_later(1)
    assert done.completed and done.result == 42
    assert failed.failed and failed.exception is not None and failed.exception.message == "bad"
    assert retried.completed and retried.failure_count == 1
    assert Job.find(done.id or "").result == 42


def test_drain_on_every_store(current: StoreEnv) -> None:
    Parent.perform_later(2)
    assert len(testing.drain()) == 3
    assert [event for _, event in CALLS if event.startswith("start")] == [
        "start 2", "start 1", "start 0"]  # fmt: skip
    assert Job.counts_by_state() == {}


def test_the_trace_context_round_trips_on_every_store(current: StoreEnv) -> None:
    provider = TracerProvider()
    rocketjob.otel.instrument(provider)
    try:
        with provider.get_tracer("web").start_as_current_span("request") as span:
            job = Recorded.perform_later(1)
    finally:
        rocketjob.otel.uninstrument()
    found = Job.find(job.id or "")
    found.save(percent_complete=5)
    carrier = rocketjob.otel.trace_context(Job.find(job.id or ""))
    assert carrier is not None
    assert carrier["traceparent"].split("-")[1] == f"{span.get_span_context().trace_id:032x}"
