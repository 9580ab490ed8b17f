"""How long a job ran and how long it waited, and times as people read them.

One definition for ``job.status()``, Mission Control and ``rocketjob jobs``, computed from
the stored times of a job document (or a Job's attributes):

* ``queued_for``: seconds from the job becoming runnable (``created_at``, or its
  ``run_at`` when later) until it started, or until ``now`` while it is still waiting.
  None while it is scheduled (its ``run_at`` is in the future) and for jobs that never
  waited in the queue this time round (paused, aborted unrun).
* ``duration``: seconds from ``started_at`` to ``completed_at`` (completed, failed or
  aborted while running), or until ``now`` while it runs (the elapsed time). None for a
  job that has not started.

A retried job is measured on its latest attempt: while it is queued again, the
``started_at`` of the earlier attempt is ignored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

_UNITS = ((86400, "d", 3600, "h"), (3600, "h", 60, "min"), (60, "min", 1, "s"))


def _time(doc: Mapping[str, Any], name: str) -> dt.datetime | None:
    """A time field, or None (also for a corrupt job's undecodable value)."""
    value = doc.get(name)
    return value if isinstance(value, dt.datetime) else None


def _runnable_since(doc: Mapping[str, Any]) -> dt.datetime | None:
    created, run_at = _time(doc, "created_at"), _time(doc, "run_at")
    if created is None:
        return run_at
    return max(created, run_at) if run_at is not None else created


def _started(doc: Mapping[str, Any]) -> dt.datetime | None:
    """started_at of the current attempt: a queued or paused job has not started it (a
    started_at left by an earlier attempt of a retried job does not count)."""
    if str(doc.get("state")) in ("queued", "paused"):
        return None
    return _time(doc, "started_at")


def _waiting(doc: Mapping[str, Any]) -> bool:
    return str(doc.get("state")) == "queued"


def queued_for(doc: Mapping[str, Any], now: dt.datetime) -> float | None:
    """Seconds the job waited (or has been waiting) in the queue; see the module doc."""
    since = _runnable_since(doc)
    if since is None:
        return None
    started = _started(doc)
    if started is not None:
        return round(max(0.0, (started - since).total_seconds()), 3)
    if not _waiting(doc) or since > now:
        return None
    return round((now - since).total_seconds(), 3)


def duration(doc: Mapping[str, Any], now: dt.datetime) -> float | None:
    """Seconds the job ran (or has been running); see the module doc."""
    started = _started(doc)
    if started is None:
        return None
    state = str(doc.get("state"))
    finished = _time(doc, "completed_at")
    if state == "running":
        return round(max(0.0, (now - started).total_seconds()), 3)
    if finished is None or finished < started:
        return None
    return round((finished - started).total_seconds(), 3)


def job_times(doc: Mapping[str, Any], now: dt.datetime) -> dict[str, float | None]:
    """``{"duration": ..., "queued_for": ...}`` of a job document."""
    return {"duration": duration(doc, now), "queued_for": queued_for(doc, now)}


def human_seconds(seconds: float | None) -> str:
    """A short duration: ``850 ms``, ``4.2 s``, ``3 min 2 s``, ``2 h 5 min``, ``3 d 1 h``
    (empty for None)."""
    if seconds is None:
        return ""
    value = abs(seconds)
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    whole = int(value)
    for size, unit, sub, subunit in _UNITS:
        if whole >= size:
            rest = (whole % size) // sub
            return f"{whole // size} {unit}" + (f" {rest} {subunit}" if rest else "")
    return f"{whole} s"  # pragma: no cover - the loop always returns for whole >= 60


def relative(when: dt.datetime | None, now: dt.datetime) -> str:
    """``3 min ago`` or ``in 2 h 5 min`` (``just now`` within a second; empty for None)."""
    if when is None:
        return ""
    delta = (when - now).total_seconds()
    if abs(delta) < 1:
        return "just now"
    text = _coarse(abs(delta))
    return f"in {text}" if delta > 0 else f"{text} ago"


def _coarse(seconds: float) -> str:
    """Relative times need no milliseconds: whole seconds, then two units at most."""
    return human_seconds(float(int(seconds))) if seconds >= 60 else f"{int(seconds)} s"


def next_retry_at(
    state: str, failure_count: int, run_at: Any, now: dt.datetime
) -> dt.datetime | None:
    """When an automatically retried job runs again: the ``run_at`` of a job that failed
    before and is queued for a later time (the retry its worker scheduled after the
    failure, or one scheduled with ``job.retry(run_at=...)``); None otherwise."""
    if state != "queued" or not failure_count or not isinstance(run_at, dt.datetime):
        return None
    return run_at if run_at > now else None
