"""rocketjob.otel: the enqueuer's trace context stored with the job, each run a span linked
to it; on a real in-process worker (Worker + Executor + SQLite), read with the SDK's
InMemorySpanExporter."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import rocketjob.otel
from rocketjob import Job, enqueue, executor, testing
from tests.conftest import REPO, running_worker
from tests.support import wait_until

pytestmark = pytest.mark.usefixtures("sqlite_url")


class TracedJob(Job):
    destroy_on_complete = False

    def perform(self, fail: bool = False) -> None:
        with trace.get_tracer("app").start_as_current_span("inside perform"):
            if fail:
                raise RuntimeError("traced failure")


class RetriedJob(Job):
    retry_limit = 1
    destroy_on_complete = False

    def perform(self) -> None:
        if self.failure_count == 0:
            raise RuntimeError("first run fails")


class AsyncTracedJob(Job):
    destroy_on_complete = False

    async def perform(self, fail: bool = False) -> None:
        with trace.get_tracer("app").start_as_current_span("inside async perform"):
            if fail:
                raise RuntimeError("async failure")


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    rocketjob.otel.instrument(provider)
    # Spans made inside perform use the global API: route them to this provider too.
    previous = trace._TRACER_PROVIDER
    trace._TRACER_PROVIDER = provider
    try:
        yield exporter
    finally:
        trace._TRACER_PROVIDER = previous
        rocketjob.otel.uninstrument()


def runs(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name.startswith("run ")]


def enqueue_in_request(
    exporter: InMemorySpanExporter, *args: Any, cls: type[Job] = TracedJob
) -> tuple[Job, Any]:
    tracer = trace.get_tracer_provider().get_tracer("web")
    with tracer.start_as_current_span("POST /import") as request:
        job = cls.perform_later(*args)
    return job, request.get_span_context()


def test_a_worker_run_is_a_span_linked_to_the_enqueuing_trace(
    spans: InMemorySpanExporter,
) -> None:
    job, request = enqueue_in_request(spans)
    stored = rocketjob.current_store().get_job(job.id or "")
    assert stored is not None
    traceparent = stored["trace_context"]["traceparent"]
    flags = int(request.trace_flags)
    assert traceparent == f"00-{request.trace_id:032x}-{request.span_id:016x}-{flags:02x}"
    with running_worker(imports=["tests.test_otel"]):
        wait_until(lambda: runs(spans))
    (run,) = runs(spans)
    assert run.name == "run tests.test_otel.TracedJob" and run.kind == SpanKind.CONSUMER
    assert [link.context.span_id for link in run.links] == [request.span_id]
    assert run.links[0].context.trace_id == request.trace_id
    assert run.context is not None and run.context.trace_id != request.trace_id  # a link
    assert dict(run.attributes or {}) == {
        "rocketjob.job.id": job.id, "rocketjob.job.class": "tests.test_otel.TracedJob",
        "rocketjob.job.attempt": 1, "rocketjob.job.outcome": "completed",
        "messaging.system": "rocketjob", "messaging.operation.type": "process",
        "messaging.message.id": job.id,
    }  # fmt: skip
    (inner,) = [s for s in spans.get_finished_spans() if s.name == "inside perform"]
    assert inner.parent is not None and inner.parent.span_id == run.context.span_id
    assert job.reload().completed
    # A built-in field, not one of the job's own (custom) fields.
    assert "trace_context" not in TracedJob._custom_fields and stored["fields"] == {}
    assert Job.find(job.id or "").trace_context == stored["trace_context"]


def test_a_failed_run_has_error_status_and_the_exception(spans: InMemorySpanExporter) -> None:
    job, _ = enqueue_in_request(spans, True)
    with running_worker(imports=["tests.test_otel"]):
        wait_until(lambda: runs(spans))
    (run,) = runs(spans)
    assert run.attributes is not None and run.attributes["rocketjob.job.outcome"] == "failed"
    assert run.status.status_code == StatusCode.ERROR
    assert run.status.description == "RuntimeError: traced failure"
    (event,) = [e for e in run.events if e.name == "exception"]
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "RuntimeError"
    assert "traced failure" in str(event.attributes["exception.stacktrace"])
    assert job.reload().failed


def test_each_attempt_is_a_span_linked_to_the_same_enqueue(
    spans: InMemorySpanExporter,
) -> None:
    job, request = enqueue_in_request(spans, cls=RetriedJob)
    testing.drain()  # the worker's Executor, retries at once
    first, second = runs(spans)
    assert [(s.attributes or {})["rocketjob.job.attempt"] for s in (first, second)] == [1, 2]
    assert [(s.attributes or {})["rocketjob.job.outcome"] for s in (first, second)] == [
        "failed", "completed"]  # fmt: skip
    assert {s.links[0].context.span_id for s in (first, second)} == {request.span_id}
    assert job.reload().completed


def test_the_trace_context_survives_a_save(spans: InMemorySpanExporter) -> None:
    job, request = enqueue_in_request(spans, cls=RetriedJob)
    found = Job.find(job.id or "")
    found.save(percent_complete=10)
    found.save(description="changed")
    assert rocketjob.otel.trace_context(Job.find(job.id or "")) is not None
    stored = rocketjob.current_store().get_job(job.id or "")
    assert stored is not None and stored["trace_context"]["traceparent"].startswith(
        f"00-{request.trace_id:032x}"
    )


def test_a_bulk_enqueue_stamps_every_job(spans: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer_provider().get_tracer("web")
    with tracer.start_as_current_span("bulk") as request:
        jobs = TracedJob.perform_all_later([(), (), ()])
    for job in jobs:
        carrier = rocketjob.otel.trace_context(Job.find(job.id or ""))
        assert carrier is not None
        assert carrier["traceparent"].split("-")[1] == f"{request.get_span_context().trace_id:032x}"


def test_outside_a_trace_nothing_is_stored_and_the_run_has_no_link(
    spans: InMemorySpanExporter,
) -> None:
    job = TracedJob.perform_later()
    stored = rocketjob.current_store().get_job(job.id or "")
    assert stored is not None and stored["trace_context"] is None
    testing.drain()
    (run,) = runs(spans)
    assert list(run.links) == []


def test_uninstrumented_no_hook_is_installed() -> None:
    assert enqueue.BEFORE_INSERT == [] and executor.RUN_OBSERVERS == []
    job = TracedJob.perform_later()
    stored = rocketjob.current_store().get_job(job.id or "")
    assert stored is not None and stored["trace_context"] is None


def test_without_opentelemetry_rocketjob_imports_and_instrument_says_what_to_install() -> None:
    code = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None  # as if not installed\n"
        "import rocketjob, rocketjob.otel, rocketjob.worker, rocketjob.testing\n"
        "assert not rocketjob.otel.AVAILABLE\n"
        "assert not any(m.startswith('opentelemetry') and sys.modules[m] for m in sys.modules)\n"
        "try:\n"
        "    rocketjob.otel.instrument()\n"
        "except rocketjob.ConfigError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "opentelemetry is not installed; pip install 'rocketjob[otel]'" in result.stdout


def test_importing_rocketjob_does_not_import_opentelemetry() -> None:
    code = (
        "import sys, rocketjob, rocketjob.worker, rocketjob.testing\n"
        "print(any('opentelemetry' in m for m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.parametrize("fail", [False, True])
def test_a_coroutine_job_run_on_the_event_loop_is_a_linked_span(
    spans: InMemorySpanExporter, fail: bool
) -> None:
    job, request = enqueue_in_request(spans, fail, cls=AsyncTracedJob)
    with running_worker(imports=["tests.test_otel"]):
        wait_until(lambda: runs(spans), timeout=20)
    (run,) = runs(spans)
    assert run.name == "run tests.test_otel.AsyncTracedJob"
    assert [link.context.span_id for link in run.links] == [request.span_id]
    attributes = dict(run.attributes or {})
    assert attributes["rocketjob.job.outcome"] == ("failed" if fail else "completed")
    assert attributes["rocketjob.job.attempt"] == 1 and attributes["rocketjob.job.id"] == job.id
    assert run.status.status_code == (StatusCode.ERROR if fail else StatusCode.UNSET)
    (inner,) = [s for s in spans.get_finished_spans() if s.name == "inside async perform"]
    assert inner.parent is not None and run.context is not None
    assert inner.parent.span_id == run.context.span_id  # current inside the task
    assert job.reload().state == ("failed" if fail else "completed")
