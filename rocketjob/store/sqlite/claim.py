"""SQLite store: claiming jobs and writing their outcomes, inside a write transaction.

Claiming is one ``BEGIN IMMEDIATE`` transaction: SQLite allows one writer at a time, so no
two processes can claim the same row. A covering partial index on ``(priority, id,
job_class, run_at) WHERE state = 'queued'`` serves it in claim order. Throttled claims
count running jobs in the same transaction, so counting and claiming are one serialised
step. Every function here takes the connection of a transaction the caller holds.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
from collections.abc import Collection, Sequence
from typing import Any

import rocketjob.store.limits as lim
from rocketjob.store.base import ClaimLimit, Finish
from rocketjob.store.sqlite.rows import (
    JOB_COLUMNS,
    STARTED,
    placeholders,
    to_column,
    to_micros,
)


def claim(
    conn: sqlite3.Connection,
    worker_names: Sequence[str],
    job_classes: Collection[str],
    now: dt.datetime,
    limits: Sequence[ClaimLimit],
) -> list[Any]:
    """Claim rows for ``worker_names``, in claim order."""
    now_us = to_micros(now)
    classes = list(job_classes)
    if limits:
        ids = _claim_limited(conn, worker_names, classes, now_us, limits)
    else:
        params = (*classes, now_us, len(worker_names))
        ids = [row[0] for row in conn.execute(claim_select(len(classes)), params)]
    if not ids:
        return []
    server = worker_names[0].rsplit(":", 1)[0]
    return _claim_rows(conn, ids, worker_names, server, now_us)


def has_candidates(
    conn: sqlite3.Connection, job_classes: Collection[str], now_us: int | None
) -> bool:
    """A read-only look before taking the write lock, so idle polling never blocks the
    writers of other processes."""
    params = (*job_classes, now_us, 1)
    return bool(conn.execute(claim_select(len(job_classes)), params).fetchone())


def finish(conn: sqlite3.Connection, finished: Sequence[Finish]) -> list[str]:
    """Write each outcome if the job is still ours. The deletions go in one statement:
    every statement lets the other threads of this process take the GIL while the write
    lock is held."""
    done = _delete_finished(conn, [item for item in finished if item.destroy])
    for item in finished:
        if item.destroy:
            continue
        names = list(item.changes)
        cursor = conn.execute(
            f"UPDATE jobs SET {', '.join(f'{n} = ?' for n in names)} "
            "WHERE id = ? AND state = 'running' AND worker_name = ?",
            [to_column(n, item.changes[n]) for n in names] + [item.job_id, item.worker_name],
        )
        if cursor.rowcount:
            done.append(item.job_id)
    return done


def _claim_limited(
    conn: sqlite3.Connection,
    worker_names: Sequence[str],
    classes: Sequence[str],
    now_us: int | None,
    limits: Sequence[ClaimLimit],
) -> list[str]:
    """The ids to claim, in order, within ``limits``."""
    limited = lim.limited_classes(limits)
    rows = conn.execute(
        "SELECT job_class, COUNT(*) FROM jobs INDEXED BY jobs_running WHERE state = 'running' "
        f"AND job_class IN ({', '.join('?' * len(limited))}) GROUP BY job_class",
        limited,
    ).fetchall()
    counts = lim.counts_per_limit(limits, dict(rows))
    picked: list[str] = []
    while len(picked) < len(worker_names):
        allowed = lim.allowed_classes(classes, limits, counts)
        if not allowed:
            break
        want = len(worker_names) - len(picked)
        candidates = conn.execute(
            "SELECT id, job_class FROM jobs INDEXED BY jobs_queue WHERE state = 'queued' "
            f"AND job_class IN ({', '.join('?' * len(allowed))}) "
            "AND (run_at IS NULL OR run_at <= ?) "
            f"AND id NOT IN ({', '.join('?' * len(picked))}) ORDER BY priority, id LIMIT ?",
            (*allowed, now_us, *picked, want),
        ).fetchall()
        picked += [job_id for job_id, cls in candidates if lim.take(cls, limits, counts)]
        if len(candidates) < want:
            break
    return picked


def _claim_rows(
    conn: sqlite3.Connection,
    ids: list[str],
    worker_names: Sequence[str],
    server: str,
    now_us: int | None,
) -> list[Any]:
    """Move ``ids`` to running, naming the i-th job's worker ``worker_names[i]``, in one
    UPDATE ... RETURNING; the rows come back in ``ids`` order. It writes the fields of
    rocketjob.state.start_changes, the state taken from there."""
    cases = " ".join("WHEN ? THEN ?" for _ in ids)
    pairs = [value for pair in zip(ids, worker_names, strict=False) for value in pair]
    rows = conn.execute(
        f"UPDATE jobs SET state = {STARTED}, started_at = ?, server_name = ?, "
        f"worker_name = CASE id {cases} END "
        f"WHERE id IN ({placeholders(len(ids))}) AND state = 'queued' "
        f"RETURNING {', '.join(JOB_COLUMNS)}",
        (now_us, server, *pairs, *ids),
    ).fetchall()
    order = {job_id: i for i, job_id in enumerate(ids)}
    return sorted(rows, key=lambda row: order[row[0]])


def _delete_finished(conn: sqlite3.Connection, items: Sequence[Finish]) -> list[str]:
    """Delete the jobs of ``items`` that are still running on the named workers, in one
    DELETE ... RETURNING; returns the ids deleted."""
    if not items:
        return []
    cases = " ".join("WHEN ? THEN ?" for _ in items)
    pairs = [value for item in items for value in (item.job_id, item.worker_name)]
    rows = conn.execute(
        f"DELETE FROM jobs WHERE id IN ({placeholders(len(items))}) AND state = 'running' "
        f"AND worker_name = CASE id {cases} END RETURNING id",
        (*(item.job_id for item in items), *pairs),
    ).fetchall()
    return [row[0] for row in rows]


@functools.lru_cache(maxsize=64)
def claim_select(class_count: int) -> str:
    """The claim's SELECT for ``class_count`` job classes (cached: built once)."""
    return (
        "SELECT id FROM jobs INDEXED BY jobs_queue WHERE state = 'queued' "
        f"AND job_class IN ({placeholders(class_count)}) "
        "AND (run_at IS NULL OR run_at <= ?) ORDER BY priority, id LIMIT ?"
    )
