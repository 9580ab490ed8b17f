"""rocketjob.otel end to end: a job enqueued inside a trace by this process runs on a real
``rocketjob -c`` daemon whose worker exports its run span, linked to that trace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

import rocketjob.otel
from tests.integration.helpers import Daemon, write_config
from tests.integration.otel_jobs import DaemonTracedJob
from tests.support import wait_until


def spans_in(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def test_the_daemon_worker_links_its_run_span_to_the_enqueuing_trace(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    spans_file = tmp_path / "spans.jsonl"
    config = write_config(tmp_path / "otel.toml", url,
                          worker={"imports": ["tests.integration.otel_jobs"]})  # fmt: skip
    provider = TracerProvider()
    rocketjob.otel.instrument(provider)
    try:
        with provider.get_tracer("web").start_as_current_span("POST /import") as request:
            job = DaemonTracedJob.perform_later(7)
    finally:
        rocketjob.otel.uninstrument()
    daemons.append(daemon := Daemon(config, env={"ROCKETJOB_TEST_SPANS": str(spans_file)}))
    (run,) = wait_until(lambda: spans_in(spans_file), timeout=30)
    assert daemon.stop() == 0
    context = request.get_span_context()
    assert run["name"] == "run tests.integration.otel_jobs.DaemonTracedJob"
    assert run["kind"] == "SpanKind.CONSUMER"
    assert [link["context"]["span_id"] for link in run["links"]] == [f"0x{context.span_id:016x}"]
    assert run["links"][0]["context"]["trace_id"] == f"0x{context.trace_id:032x}"
    assert run["attributes"]["rocketjob.job.id"] == job.id
    assert run["attributes"]["rocketjob.job.outcome"] == "completed"
    assert run["attributes"]["rocketjob.job.attempt"] == 1
    assert job.reload().completed
