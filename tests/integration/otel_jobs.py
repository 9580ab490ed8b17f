"""A job module that traces its worker's runs: configures the OpenTelemetry SDK to write
each finished span as one JSON line to the file named by ROCKETJOB_TEST_SPANS, then
instruments rocketjob (what a user's job module or worker start-up does)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

import rocketjob.otel
from rocketjob import Job


class JsonLinesExporter(SpanExporter):
    """One JSON object per finished span, appended to a file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with open(self.path, "a") as out:
            for span in spans:
                out.write(span.to_json(indent=None) + "\n")
        return SpanExportResult.SUCCESS


_spans_file = os.environ.get("ROCKETJOB_TEST_SPANS")
if _spans_file:  # in the daemon's worker; the test process only enqueues
    _provider = TracerProvider()
    _provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(_spans_file)))
    rocketjob.otel.instrument(_provider)


class DaemonTracedJob(Job):
    destroy_on_complete = False

    def perform(self, value: int) -> int:
        return value
