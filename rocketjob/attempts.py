"""The history of a job's failed attempts, kept on the job (its ``attempts`` field).

A failure keeps its full exception (with the backtrace) in ``exception``, and it is
replaced by the next failure. ``attempts`` keeps one short entry per failure, oldest
first, bounded to the last :data:`MAX_ATTEMPTS`, so an operator sees what happened before
(Sidekiq's retry history, Rocket Job's exception list)::

    {"number": 3,                         # failure_count after this failure
     "at": "2024-05-01T12:00:03.123456+00:00",
     "started_at": "2024-05-01T12:00:01.000000+00:00" or None,
     "worker_name": "host:1234:rocketjob-job-2" or None,
     "class_name": "TimeoutError", "message": "read timed out"}

Times are ISO-8601 text (the list is stored as plain JSON on every engine); a message
is cut at :data:`MESSAGE_LIMIT` characters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

#: Failed attempts kept per job (older ones are dropped).
MAX_ATTEMPTS = 25
#: Characters of an exception message kept in an attempt entry.
MESSAGE_LIMIT = 1000


def with_failure(
    previous: Sequence[Mapping[str, Any]] | None,
    exception: Mapping[str, Any],
    *,
    number: int,
    at: dt.datetime,
    started_at: dt.datetime | None,
) -> list[dict[str, Any]]:
    """``previous`` plus the entry of the failure ``exception`` (the stored exception
    dict), the ``number``-th failure of the job, at ``at``; the last MAX_ATTEMPTS."""
    message = str(exception.get("message") or "")
    entry = {
        "number": number,
        "at": at.astimezone(dt.UTC).isoformat(),
        "started_at": started_at.astimezone(dt.UTC).isoformat()
        if isinstance(started_at, dt.datetime)
        else None,
        "worker_name": exception.get("worker_name"),
        "class_name": exception.get("class_name"),
        "message": message[:MESSAGE_LIMIT],
    }
    # a corrupt job's undecodable history is not a list: start afresh
    items = previous if isinstance(previous, list | tuple) else []
    kept = [dict(item) for item in items if isinstance(item, Mapping)][-(MAX_ATTEMPTS - 1) :]
    return [*kept, entry]


def after_failure(job: Any, changes: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``attempts`` of ``job`` once the fail event's ``changes`` (exception,
    failure_count, completed_at) are written: the one hook every fail payload calls."""
    return with_failure(
        getattr(job, "attempts", None), changes["exception"], number=changes["failure_count"],
        at=changes["completed_at"], started_at=getattr(job, "started_at", None),
    )  # fmt: skip


def readable(attempts: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """The entries with ``at`` and ``started_at`` as datetimes and ``ran_for`` (seconds
    or None), for pages and the CLI; malformed entries are skipped."""
    out = []
    for item in attempts if isinstance(attempts, list | tuple) else []:
        if not isinstance(item, Mapping):
            continue
        at, started = _time(item.get("at")), _time(item.get("started_at"))
        ran = (at - started).total_seconds() if at and started and at >= started else None
        out.append({**item, "at": at, "started_at": started, "ran_for": ran})
    return out


def _time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None
