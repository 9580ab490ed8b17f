"""Mission Control's view of a batch job: slice counts by state, records processed per
second, an estimate of the time left, and the failed records with their exceptions.

Read on the job page only for jobs of a :class:`rocketjob.BatchJob` class; the page's
retry and abort act on the slices through the job (``BatchJob.retry`` re-queues the
failed slices; an aborted job's slices are no longer handed out).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rocketjob.batch import BatchJob
from rocketjob.batch.fastjson import loads_list
from rocketjob.job import resolve_class
from rocketjob.store.base import JobDoc, Store
from rocketjob.store.slices import SliceStore
from rocketjob.web import inline

#: Failed records shown on the page (the CLI and API list all of them).
SHOWN_FAILURES = 50


def batch_facts(store: Store, doc: JobDoc, now: dt.datetime) -> dict[str, Any] | None:
    """What the job page shows of a batch job, or None for other jobs."""
    cls = resolve_class(doc["job_class"])
    if cls is None or not issubclass(cls, BatchJob) or not isinstance(store, SliceStore):
        return None
    counts = store.count_slices(doc["id"])
    slices = {state: counts.get(state, 0) for state in ("queued", "running", "completed",
                                                         "failed")}  # fmt: skip
    fields = doc.get("fields") or {}
    records = int(fields.get("record_count") or 0)
    total = sum(slices.values()) or 1
    done = records * (slices["completed"] + slices["failed"]) // total
    rate, eta = _rate(doc, now, done, records)
    return {
        "slices": slices, "records": records, "processed": done, "rate": rate, "eta": eta,
        "failures": _failures(store, doc["id"]),
    }  # fmt: skip


def _rate(
    doc: JobDoc, now: dt.datetime, done: int, records: int
) -> tuple[float | None, float | None]:
    """Records per second since the job started, and the seconds left at that rate."""
    started = doc.get("started_at")
    if doc["state"] != "running" or not isinstance(started, dt.datetime) or done <= 0:
        return None, None
    elapsed = (now - started).total_seconds()
    if elapsed <= 0:
        return None, None
    rate = done / elapsed
    return rate, (records - done) / rate


def _failures(store: SliceStore, job_id: str) -> list[dict[str, Any]]:
    out = []
    for piece in store.failed_slices(job_id)[:SHOWN_FAILURES]:
        failure = piece.get("failure") or {}
        index = int(failure.get("index", 0))
        records = loads_list(piece["records"])
        record = records[index] if index < len(records) else None
        exception = failure.get("exception") or {}
        out.append({
            "number": failure.get("record_number"), "record": inline.field_text(record),
            "class_name": exception.get("class_name", ""), "message": exception.get("message", ""),
            "backtrace": exception.get("backtrace") or [],
        })  # fmt: skip
    return out
