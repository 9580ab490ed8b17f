"""The appender contract, run unchanged against every appender type and its real receiver.

Each appender: delivers; batches; survives HTTP 500, 429 and a timeout (retries and then
delivers everything); survives a hanging receiver and a refused connection (the caller is
never held up, close() keeps its deadline, what was lost is counted); flushes on close.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

import appenders
from appenders import AsyncAppender, Record
from tests.appenders.conftest import REFUSABLE, STALLABLE, TRANSIENT_FAULTS, Case
from tests.support import wait_until

#: The longest an emit() may take; the real figure is microseconds. The bound leaves room
#: for scheduling stalls on a loaded 2-core machine while staying far below a hanging
#: receiver's delivery timeout (seconds), which is what a blocking emit would show.
EMIT_BOUND = 0.25
#: What close() may overrun its timeout by (thread join and scheduling).
CLOSE_SLACK = 0.5


def records(n: int, tag: str = "") -> list[Record]:
    """``n`` error records (so level-filtered appenders like Bugsnag take them)."""
    tag = tag or uuid.uuid4().hex[:6]
    extra = {"job_id": "j-1", "job_class": "app.jobs.ImportJob"}
    return [Record(f"{tag} record {i}", level="ERROR", extra=dict(extra)) for i in range(n)]


def build(entry: dict[str, Any], environ: dict[str, str], *, start: bool = True) -> AsyncAppender:
    """The entry's appender behind its asynchronous delivery wrapper."""
    (spec,) = appenders.parse([entry], environ)
    return AsyncAppender(spec.create(), name=spec.name, options=spec.delivery, start=start)


def emit_timed(out: AsyncAppender, batch: list[Record]) -> float:
    """Emit every record; return the longest single emit() in seconds."""
    longest = 0.0
    for record in batch:
        began = time.monotonic()
        out.emit(record)
        longest = max(longest, time.monotonic() - began)
    return longest


def close_timed(out: AsyncAppender, timeout: float) -> tuple[bool, float]:
    """close(timeout), and how long it took."""
    began = time.monotonic()
    result = out.close(timeout)
    return result, time.monotonic() - began


def test_delivers(case: Case) -> None:
    out = build(case.entry, case.environ)
    sent = records(3)
    for record in sent:
        out.emit(record)
    expected = [r.message for r in sent]
    wait_until(lambda: case.messages() == expected)
    assert out.close(5)
    assert out.dropped == 0


def test_batches(case: Case) -> None:
    out = build({**case.entry, "batch_size": 100}, case.environ, start=False)
    sent = records(60)
    for record in sent:
        out.emit(record)
    out.start()
    assert out.close(5)
    wait_until(lambda: len(case.messages()) == 60)
    assert sorted(case.messages()) == sorted(r.message for r in sent)
    assert out.delivered_batches == 1
    if case.deliveries is not None:
        assert 1 <= case.deliveries() < 60


def test_flushes_on_close(case: Case) -> None:
    out = build(case.entry, case.environ)
    sent = records(200)
    for record in sent:
        out.emit(record)
    assert out.close(5), "close() must deliver everything queued before returning"
    wait_until(lambda: len(case.messages()) >= 200, timeout=2)
    assert set(case.messages()) == {r.message for r in sent}
    assert out.dropped == 0


@pytest.mark.parametrize(("case", "fault"), TRANSIENT_FAULTS, indirect=["case"])
def test_survives_transient_fault(case: Case, fault: str) -> None:
    out = build(case.faults[fault](), case.environ)
    sent = records(5)
    assert emit_timed(out, sent) < EMIT_BOUND
    expected = {r.message for r in sent}
    wait_until(lambda: expected <= set(case.messages()))
    assert out.close(5)
    assert out.dropped == 0


@pytest.mark.parametrize("case", STALLABLE, indirect=True)
def test_hanging_receiver_never_holds_up_caller_or_close(case: Case) -> None:
    assert case.stall_entry is not None
    # Each attempt may wait 5 s for an answer: close(1.0) must still return in time.
    out = build({**case.stall_entry, "timeout": 5.0, "max_retries": 1}, case.environ)
    assert emit_timed(out, records(50)) < EMIT_BOUND
    delivered, took = close_timed(out, 1.0)
    assert took < 1.0 + CLOSE_SLACK
    if case.stall_drops:
        assert not delivered
        assert out.dropped == 50


@pytest.mark.parametrize("case", REFUSABLE, indirect=True)
def test_refused_connection_is_survived_and_counted(case: Case) -> None:
    assert case.refused_entry is not None
    out = build({**case.refused_entry, "max_retries": 1}, case.environ)
    assert emit_timed(out, records(20)) < EMIT_BOUND
    _, took = close_timed(out, 2.0)
    assert took < 2.0 + CLOSE_SLACK
    if case.refused_drops:
        assert out.dropped == 20


@pytest.mark.parametrize("overflow", ["drop", "block"])
def test_never_blocks_caller_when_queue_is_full(case: Case, overflow: str) -> None:
    # A receiver that hangs where there is one; else a delivery thread not started yet.
    stalls = case.stall_entry is not None and case.stall_drops
    entry = case.stall_entry if stalls and case.stall_entry else case.entry
    options = {"queue_size": 10, "overflow": overflow, "block_timeout": 0.01}
    out = build({**entry, **options}, case.environ, start=stalls)
    longest = emit_timed(out, records(100))
    assert longest < (EMIT_BOUND if overflow == "drop" else 0.01 + EMIT_BOUND)
    assert out.dropped >= 100 - 25  # at most a queue (10) and one batch (<= 10) got through
    close_timed(out, 0.5)
