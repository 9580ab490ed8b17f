"""OpenTelemetry tracing: follow a job from the code that enqueued it into the worker.

::

    pip install 'rocketjob[otel]'

    import rocketjob.otel
    rocketjob.otel.instrument()    # in the enqueuing process and in every worker

Once instrumented, every enqueue (``perform_later``, ``perform_all_later``, ``create``)
stores the caller's trace context with the job (W3C ``traceparent``/``tracestate``,
through the globally configured propagator), and every run of a job on a worker is a span
(kind CONSUMER) *linked* to that context, with the attributes ``rocketjob.job.id``,
``rocketjob.job.class``, ``rocketjob.job.attempt`` (1 for the first run, 2 for the first
retry, ...) and ``rocketjob.job.outcome`` (completed, failed, expired, rescheduled; cancelled for a
coroutine job stopped by an abort or a worker's stop). A
failed run has status ERROR and an ``exception`` event. The span is current while the job
runs, so spans made inside ``perform`` are its children.

The trace context is kept in the job's built-in ``trace_context`` field (a store-owned
dict, None outside a trace; rocketjob.store.job_fields). A link, not a parent: a job may
run long after the request that enqueued it ended, and retries are runs of their own.

Without opentelemetry installed this module still imports; nothing in rocketjob imports
it unless you do, and until :func:`instrument` is called no hook is installed (the
enqueue and run paths then cost nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from rocketjob import __version__, enqueue, executor
from rocketjob.errors import ConfigError
from rocketjob.store.base import JobBatch, JobDoc

try:
    from opentelemetry import context, propagate, trace
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode

    AVAILABLE = True
except ImportError:  # the optional extra is not installed
    AVAILABLE = False

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from rocketjob.job import Job

#: The instrumentation scope of the spans.
SCOPE = "rocketjob"

_tracer: Any = None


def instrument(tracer_provider: TracerProvider | None = None) -> None:
    """Store the trace context at every enqueue and trace every run on this process's
    workers, with ``tracer_provider`` (default: the global one). Calling it again only
    changes the provider. Raises ConfigError when opentelemetry is not installed."""
    global _tracer
    if not AVAILABLE:
        raise ConfigError(
            "rocketjob.otel.instrument(): opentelemetry is not installed; "
            "pip install 'rocketjob[otel]'"
        )
    _tracer = trace.get_tracer(SCOPE, __version__, tracer_provider=tracer_provider)
    if stamp_trace_context not in enqueue.BEFORE_INSERT:
        enqueue.BEFORE_INSERT.append(stamp_trace_context)
    if trace_run not in executor.RUN_OBSERVERS:
        executor.RUN_OBSERVERS.append(trace_run)


def uninstrument() -> None:
    """Remove both hooks: enqueues store no trace context, runs make no span."""
    global _tracer
    if stamp_trace_context in enqueue.BEFORE_INSERT:
        enqueue.BEFORE_INSERT.remove(stamp_trace_context)
    if trace_run in executor.RUN_OBSERVERS:
        executor.RUN_OBSERVERS.remove(trace_run)
    _tracer = None


def stamp_trace_context(docs: Sequence[JobDoc]) -> None:
    """The enqueue hook: put the current trace context into each new job document (the
    shared template of a bulk enqueue). Nothing is stored outside a trace."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if not carrier:
        return
    targets = [docs.template] if isinstance(docs, JobBatch) else docs
    for doc in targets:
        doc["trace_context"] = carrier


def trace_context(job: Job) -> dict[str, str] | None:
    """The trace context stored with ``job`` at enqueue, or None."""
    carrier = job.trace_context
    return carrier if isinstance(carrier, dict) else None


def trace_run(job: Job) -> Callable[[str], None]:
    """The run observer: start the run's span, current while the job runs; returns the
    call that ends it with the outcome."""
    links = []
    carrier = trace_context(job)
    if carrier:
        linked = trace.get_current_span(propagate.extract(carrier)).get_span_context()
        if linked.is_valid:
            links.append(Link(linked))
    attempt = int(job.failure_count or 0) + 1
    span = _tracer.start_span(
        f"run {job.job_class}",
        kind=SpanKind.CONSUMER,
        links=links,
        attributes={
            "rocketjob.job.id": job.id or "",
            "rocketjob.job.class": job.job_class,
            "rocketjob.job.attempt": attempt,
            "messaging.system": "rocketjob",
            "messaging.operation.type": "process",
            "messaging.message.id": job.id or "",
        },
    )
    token = context.attach(trace.set_span_in_context(span))

    def finished(outcome: str) -> None:
        try:
            span.set_attribute("rocketjob.job.outcome", outcome)
            if outcome in ("failed", "error"):
                _record_failure(span, job)
        finally:
            context.detach(token)
            span.end()

    return finished


def _record_failure(span: Any, job: Job) -> None:
    error = job.exception
    if error is None:
        span.set_status(Status(StatusCode.ERROR, "the run failed"))
        return
    span.set_status(Status(StatusCode.ERROR, f"{error.class_name}: {error.message}"))
    span.add_event(
        "exception",
        {
            "exception.type": error.class_name,
            "exception.message": error.message,
            "exception.stacktrace": "\n".join(error.backtrace),
        },
    )
