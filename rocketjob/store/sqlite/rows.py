"""SQLite store: conversion between job/server documents and table rows.

Times are integer microseconds since the epoch (exact and sortable); JSON fields are text
written by :mod:`rocketjob.codec`; booleans are 0/1.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import operator
import sqlite3
from collections.abc import Collection, Sequence
from typing import Any

import orjson

from rocketjob import codec, state
from rocketjob.store.base import SERVER_FIELDS, JobBatch, JobDoc, JobQuery, ServerDoc
from rocketjob.store.job_fields import JOB_FIELDS, Kind, fields_of

JOB_COLUMNS = tuple(JOB_FIELDS)
TIME_COLUMNS = fields_of(Kind.TIME)  # integer microseconds since the epoch
JSON_COLUMNS = fields_of(Kind.DATA, Kind.DOC)  # text written by rocketjob.codec
BOOL_COLUMNS = fields_of(Kind.BOOL)  # 0 or 1
SERVER_COLUMNS = tuple(SERVER_FIELDS)


def sql_literal(value: str | None) -> str:
    """A constant of the transition table (a state, or None) as an SQL literal."""
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def _requeue() -> str:
    """The bulk requeue of a server's running jobs, rendered from the transition table
    (rocketjob.state.requeue_changes): ``state = 'queued', worker_name = NULL, ...``."""
    sets = ", ".join(
        f"{name} = {sql_literal(value)}" for name, value in state.requeue_changes().items()
    )
    (source,) = state.sources("requeue")
    return f"UPDATE jobs SET {sets} WHERE state = {sql_literal(source)} AND server_name = ?"


REQUEUE = _requeue()
#: A reaped zombie's running jobs handed to the reaping server (Store.reap_zombie_servers).
ADOPT = "UPDATE jobs SET server_name = ? WHERE state = 'running' AND server_name = ?"
#: The state the claim writes (``start``'s target), as an SQL literal.
STARTED = sql_literal(state.start_changes(None, None, None)["state"])


def to_micros(value: dt.datetime | None) -> int | None:
    """A datetime as integer microseconds since the epoch (exact, sortable)."""
    if value is None:
        return None
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int | None) -> dt.datetime | None:
    """The aware UTC datetime of integer epoch microseconds."""
    return None if value is None else EPOCH + dt.timedelta(microseconds=value)


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_column(name: str, value: Any) -> Any:
    if name in TIME_COLUMNS:
        return to_micros(value)
    if name in JSON_COLUMNS:
        return None if value is None else codec.dumps(value)
    if name in BOOL_COLUMNS:
        return int(bool(value))
    return value


# Per-column conversions, precomputed: positions in JOB_COLUMNS order (hot: every claim
# and every enqueue converts whole rows).
_TIME_AT = tuple(i for i, name in enumerate(JOB_COLUMNS) if name in TIME_COLUMNS)
_JSON_AT = tuple(i for i, name in enumerate(JOB_COLUMNS) if name in JSON_COLUMNS)
_BOOL_AT = tuple(i for i, name in enumerate(JOB_COLUMNS) if name in BOOL_COLUMNS)
_TIME_NAMES = tuple(JOB_COLUMNS[i] for i in _TIME_AT)
_JSON_NAMES = tuple(JOB_COLUMNS[i] for i in _JSON_AT)
_BOOL_NAMES = tuple(JOB_COLUMNS[i] for i in _BOOL_AT)
_MICROSECOND = dt.timedelta(microseconds=1)
_ID_AT = JOB_COLUMNS.index("id")
_ARGUMENTS_AT = JOB_COLUMNS.index("arguments")


def job_to_row(doc: JobDoc) -> list[Any]:
    """The column values of a job document, in :data:`JOB_COLUMNS` order."""
    row = list(map(doc.get, JOB_COLUMNS))
    for i in _TIME_AT:
        if row[i] is not None:
            row[i] = to_micros(row[i])
    for i in _JSON_AT:
        if row[i] is not None:
            row[i] = orjson.dumps(row[i]).decode()
    for i in _BOOL_AT:
        row[i] = 1 if row[i] else 0
    return row


class SharedNullRows(list[list[Any]]):
    """Job rows that all have NULL in the same columns (``nulls``), stored without those
    columns: one cached INSERT for all of them, and no per-row check."""

    def __init__(self, nulls: tuple[bool, ...], rows: list[list[Any]]) -> None:
        super().__init__(rows)
        self.nulls = nulls


def batch_to_rows(batch: JobBatch) -> list[list[Any]]:
    """The rows of a bulk enqueue: the template's columns converted once, then for each
    job a copy with its own id and arguments (what :func:`job_to_row` of each document
    would give, without converting and checking the shared columns again)."""
    if any(arguments is None for arguments in batch.arguments):
        return list(map(job_to_row, batch))  # the jobs differ in their NULL columns
    template = job_to_row({**batch.template, "arguments": {}})
    nulls = tuple(map(_is_none, template))
    kept = [value for value in template if value is not None]
    id_at, arguments_at = (sum(not null for null in nulls[:i]) for i in (_ID_AT, _ARGUMENTS_AT))
    rows = []
    for job_id, arguments in zip(batch.ids, batch.arguments, strict=True):
        row = kept.copy()
        row[id_at] = job_id
        row[arguments_at] = orjson.dumps(arguments).decode()
        rows.append(row)
    return SharedNullRows(nulls, rows)


def insert_job_rows(conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> None:
    """INSERT job rows (:func:`job_to_row`'s, or a :class:`SharedNullRows`), their NULL
    columns written into the statement.

    Python 3.11's sqlite3 binds ``None`` slowly: it looks for an adapter first (a registry
    miss, then failed ``__adapt__`` and ``__conform__`` lookups), about 1 µs a parameter.
    A queued job has 12 of its 22 columns NULL, and binding them took 12 of the 18 µs an
    insert costs (``bench.sqlite_commit`` part 4). Consecutive rows with the same NULL
    columns share one statement; the statements are cached here and by the connection."""
    if isinstance(rows, SharedNullRows):
        conn.executemany(_insert_sql(rows.nulls), rows)
        return
    if len(rows) == 1:  # the common case, without grouping
        row = rows[0]
        conn.execute(_insert_sql(tuple(map(_is_none, row))), [v for v in row if v is not None])
        return
    for nulls, group in itertools.groupby(rows, key=lambda row: tuple(map(_is_none, row))):
        conn.executemany(_insert_sql(nulls), ([v for v in row if v is not None] for row in group))


_is_none = functools.partial(operator.is_, None)


@functools.lru_cache(maxsize=64)
def _insert_sql(nulls: tuple[bool, ...]) -> str:
    """The INSERT of a job row whose columns flagged in ``nulls`` are NULL."""
    values = ", ".join("NULL" if null else "?" for null in nulls)
    return f"INSERT INTO jobs ({', '.join(JOB_COLUMNS)}) VALUES ({values})"


def job_from_row(row: Sequence[Any]) -> JobDoc:
    """A job document from a row of :data:`JOB_COLUMNS`. A value that cannot be read
    (a bad manual edit, disk corruption) makes a CorruptDoc (rocketjob.corrupt), never
    an exception: one bad row must not break a claim or a listing."""
    doc = dict(zip(JOB_COLUMNS, row, strict=True))
    try:
        for name in _TIME_NAMES:
            value = doc[name]
            if value is not None:
                doc[name] = EPOCH + value * _MICROSECOND
        for name in _JSON_NAMES:
            value = doc[name]
            if value is not None:
                doc[name] = orjson.loads(value)
    except Exception:  # decoded again field by field, keeping what cannot be read
        return _corrupt_job_from_row(row)
    for name in _BOOL_NAMES:
        doc[name] = bool(doc[name])
    return doc


def _corrupt_job_from_row(row: Sequence[Any]) -> JobDoc:
    from rocketjob.corrupt import tolerant_doc

    decoders: dict[str, Any] = dict.fromkeys(_TIME_NAMES, lambda v: EPOCH + v * _MICROSECOND)
    decoders.update(dict.fromkeys(_JSON_NAMES, orjson.loads))
    doc = tolerant_doc(dict(zip(JOB_COLUMNS, row, strict=True)), decoders)
    for name in _BOOL_NAMES:
        doc[name] = bool(doc[name])
    return doc


def server_from_row(row: Sequence[Any]) -> ServerDoc:
    doc = dict(zip(SERVER_COLUMNS, row, strict=True))
    doc["started_at"] = from_micros(doc["started_at"])
    doc["heartbeat_at"] = from_micros(doc["heartbeat_at"])
    doc["info"] = codec.loads(doc["info"])
    doc["commands"] = codec.loads(doc["commands"])
    return doc


def placeholders(count: int) -> str:
    return ", ".join("?" * count)


def state_index_terms(states: Collection[str]) -> list[str]:
    """A literal term that lets SQLite use the listing indexes for ``state IN (?, ...)``.

    The listing indexes (``jobs_state``, ``jobs_class_state``) hold every state but queued;
    the planner picks a partial index only when the query repeats its condition word for
    word, which a bound parameter cannot. A listing of queued jobs walks the table in id
    order instead (queued jobs are the newest, and pages are bounded): sorting all of
    ``jobs_queue`` by id for one page was 4x slower with 150,000 queued jobs."""
    return ["state <> 'queued'"] if states and "queued" not in states else []


def job_filters(query: JobQuery) -> tuple[str, list[Any]]:
    """The WHERE clause (indexed filters and keyset) of a job listing."""
    where, params = ["1 = 1"], list[Any]()
    if query.states is not None:
        where.append(f"state IN ({placeholders(len(query.states))})")
        params.extend(query.states)
        where.extend(state_index_terms(query.states))
    if query.job_class is not None:
        where.append("job_class = ?")
        params.append(query.job_class)
    if query.ids is not None:
        where.append(f"id IN ({placeholders(len(query.ids))})")
        params.extend(query.ids)
    if query.server_name is not None:
        where.append("server_name = ?")
        params.append(query.server_name)
    if query.after is not None:
        where.append("id < ?" if query.descending else "id > ?")
        params.append(query.after)
    return " AND ".join(where), params
