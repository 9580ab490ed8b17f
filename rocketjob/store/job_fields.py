"""The built-in fields of a job, listed once.

Everything that names the fields of a job derives from :data:`JOB_FIELD_SPECS`: the keys
of a job document (:data:`rocketjob.store.base.JOB_FIELDS`), the attributes of
:class:`rocketjob.Job` and so ``Job.status()`` (:data:`BUILTIN_FIELDS`), and each engine's
column list and row conversion (SQLite ``rows.py``, PostgreSQL ``schema.py``, MongoDB
``docs.py``). The engines' DDL stays written out, one statement per engine where the types
differ; ``tests/store/test_job_fields.py`` checks that every engine's table (or stored
document) holds exactly these fields. Adding a field: one line here, a migration per
engine.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kind(enum.Enum):
    """How a field's value is stored: the engines map each kind to a column type."""

    TEXT = "text"
    SMALLINT = "smallint"  # a small range (priority 1..100, percent 0..100)
    INT = "int"
    BOOL = "bool"
    TIME = "time"  # an aware UTC datetime, microsecond precision
    DATA = "data"  # a user payload encoded by rocketjob.codec: kept exactly as written
    DOC = "doc"  # a store-owned plain dict (the exception)


@dataclass(frozen=True)
class JobField:
    """One built-in field: its name, how it is stored, and what it means."""

    name: str
    kind: Kind
    meaning: str


_T, _S, _I, _B, _TM, _D, _DOC = (Kind.TEXT, Kind.SMALLINT, Kind.INT, Kind.BOOL, Kind.TIME,
                                 Kind.DATA, Kind.DOC)  # fmt: skip

#: Every field of a job document, in the order of the public job model (DESIGN.md).
JOB_FIELD_SPECS: tuple[JobField, ...] = (
    JobField("id", _T, "str, unique, ordered by creation time (see rocketjob.ids)"),
    JobField("job_class", _T, "dotted path of the job class"),
    JobField("arguments", _D, "encoded {'args': [...], 'kwargs': {...}}"),
    JobField("description", _T, "str or None"),
    JobField("priority", _S, "int 1..100, 1 highest"),
    JobField("run_at", _TM, "datetime or None: not claimed before this time"),
    JobField("expires_at", _TM, "datetime or None: destroyed instead of run after this time"),
    JobField("destroy_on_complete", _B, "bool"),
    JobField("collect_output", _B, "bool"),
    JobField("result", _D, "encoded value or None"),
    JobField("state", _T, "one of rocketjob.JobState"),
    JobField("created_at", _TM, "datetime"),
    JobField("started_at", _TM, "datetime or None"),
    JobField("completed_at", _TM, "datetime or None"),
    JobField("failure_count", _I, "int"),
    JobField("worker_name", _T, "str host:pid:thread or None"),
    JobField("server_name", _T, "str host:pid of the server running it, or None"),
    JobField("percent_complete", _S, "int 0..100"),
    JobField("exception", _DOC, "None or {class_name, message, backtrace: [str], worker_name}"),
    JobField("log_level", _T, "str or None"),
    JobField(
        "singleton_key",
        _T,
        "str or None: at most one job per key is queued, running or paused "
        "(the store enforces it atomically; a duplicate raises DuplicateJob)",
    ),
    JobField(
        "attempts",
        _DOC,
        "None or [{number, at, started_at, worker_name, class_name, message}]: the failed "
        "attempts, oldest first, the last 25 (see rocketjob.attempts)",
    ),
    JobField(
        "trace_context",
        _DOC,
        "None or {traceparent, tracestate}: the W3C trace context of the code that enqueued "
        "the job (rocketjob.otel); each run's span links to it",
    ),
    JobField("fields", _D, "encoded dict of the class's custom fields"),
    JobField(
        "crash_count",
        _I,
        "int: times a worker process died abnormally while running it (at [worker] "
        "max_crashes it is failed with rocketjob.WorkerCrashed)",
    ),
)

#: Every key of a job document, with its meaning.
JOB_FIELDS: dict[str, str] = {spec.name: spec.meaning for spec in JOB_FIELD_SPECS}

#: The fields that are attributes of every :class:`rocketjob.Job` (``fields`` is not: it
#: holds the values of the class's custom fields).
BUILTIN_FIELDS: tuple[str, ...] = tuple(name for name in JOB_FIELDS if name != "fields")


def fields_of(*kinds: Kind) -> frozenset[str]:
    """The names of the fields stored as one of ``kinds``."""
    return frozenset(spec.name for spec in JOB_FIELD_SPECS if spec.kind in kinds)


__all__ = ["BUILTIN_FIELDS", "JOB_FIELDS", "JOB_FIELD_SPECS", "JobField", "Kind", "fields_of"]
