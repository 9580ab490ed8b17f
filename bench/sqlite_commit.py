"""What one fsync'd SQLite enqueue costs, and why (docs/performance.md, fifth pass).

    .venv/bin/python -m bench.sqlite_commit            # all four parts, N = 5,000
    .venv/bin/python -m bench.sqlite_commit -n 10000 --runs 5
    .venv/bin/python -m bench.sqlite_commit --page-size 2048      # new files with 2 KiB pages

At ``synchronous=full`` every ``perform_later`` is one commit with an ``fdatasync`` of the
WAL file. Four parts, printed as medians (part 4: the best run, a CPU floor):

1. **fdatasync floor**: write 1 to 4 WAL-frame-sized blocks (4,120 bytes) at the end of a
   preallocated file and ``fdatasync`` it, 2,000 times each: the disk's cost of a commit
   of that many pages, without SQLite.
2. **pages per commit**: enqueue ``-n`` jobs through the real store (schema as created by
   ``SQLiteStore``) and a Huey-like table (``INTEGER PRIMARY KEY``, queue, a 160-byte blob,
   priority; one index) with checkpoints off, and divide the WAL's frames by the commits.
   The jobs table is ``WITHOUT ROWID`` (ids are text): when its right-most leaf fills,
   SQLite rebalances it with its neighbours instead of starting a new page, so some
   commits write 5-7 pages instead of 2.
3. **commit time**: the same two inserts as ``BEGIN IMMEDIATE``/``INSERT``/``COMMIT``
   loops at ``synchronous=full``, alternating, ``--runs`` each: microseconds per commit.
4. **insert CPU**: ``-n`` job rows inserted in one transaction at ``synchronous=off``
   (no disk wait), three ways: every column bound (``None`` included), the store's
   :func:`insert_job_rows` (NULL columns written into the statement), and the Huey-like
   insert. Python 3.11's sqlite3 binds ``None`` slowly (an adapter lookup that fails
   twice), and a queued job has 12 NULL columns.

A benchmark, not a test; files go to a temporary folder (``--dir``) on the disk to measure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rocketjob.ids import new_id
from rocketjob.store.sqlite import SQLiteStore
from rocketjob.store.sqlite.rows import JOB_COLUMNS, insert_job_rows, job_to_row, placeholders

FRAME = 4096 + 24
HUEY_LIKE = (
    "CREATE TABLE task (id INTEGER NOT NULL PRIMARY KEY, queue TEXT NOT NULL, "
    "data BLOB NOT NULL, priority REAL NOT NULL DEFAULT 0.0);"
    "CREATE INDEX task_queue_priority_id ON task (queue, priority DESC, id)"
)


def _doc(i: int) -> dict[str, object]:
    """A queued no-op job document, as ``perform_later(i, time.time())`` makes it."""
    return {
        "id": new_id(), "job_class": "systems.rocketjob_sys.BenchNoop", "state": "queued",
        "priority": 50, "description": None,
        "arguments": {"args": [i, time.time()], "kwargs": {}}, "run_at": None,
        "expires_at": None, "destroy_on_complete": True, "collect_output": False,
        "result": None, "created_at": dt.datetime.now(dt.UTC), "started_at": None,
        "completed_at": None, "failure_count": 0, "worker_name": None, "server_name": None,
        "percent_complete": 0, "exception": None, "log_level": None, "fields": {},
        "singleton_key": None,
    }  # fmt: skip


def fsync_floor(folder: Path) -> None:
    """Part 1: fdatasync of 1-4 frame-sized blocks."""
    path = folder / "blocks.bin"
    size = 4 << 20
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, b"\0" * size)
        os.fsync(fd)
        block = b"x" * FRAME
        print("1. fdatasync after writing N frame-sized blocks (median of 2,000)")
        for pages in (1, 2, 3, 4):
            offset, times = 0, []
            for _ in range(2000):
                start = time.perf_counter()
                for _ in range(pages):
                    os.pwrite(fd, block, offset)
                    offset = (offset + FRAME) % (size - 8 * FRAME)
                os.fdatasync(fd)
                times.append(time.perf_counter() - start)
            print(f"   {pages} page(s): {1e6 * statistics.median(times):6.1f} µs")
    finally:
        os.close(fd)


def _open(
    kind: str, path: Path, page_size: int, checkpoints: bool
) -> tuple[sqlite3.Connection, Callable[[int], None]]:
    """A connection to a fresh file holding the ``kind`` table, and its insert."""
    for suffix in ("", "-wal", "-shm", "-rocketjob.lock"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with sqlite3.connect(path) as first:  # the page size is set before the first table
        first.execute(f"PRAGMA page_size = {page_size}")
        first.execute("PRAGMA journal_mode = WAL")
    first.close()
    if kind == "rocketjob":
        SQLiteStore(f"sqlite:///{path}").close()  # the real schema
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    if not checkpoints:
        conn.execute("PRAGMA wal_autocheckpoint = 0")
    if kind == "rocketjob":

        def insert(i: int) -> None:
            insert_job_rows(conn, [job_to_row(_doc(i))])

    else:
        conn.executescript(HUEY_LIKE)
        blob = os.urandom(160)

        def insert(i: int) -> None:
            conn.execute("INSERT INTO task (queue, data, priority) VALUES (?, ?, 0.0)",
                         ("bench", blob))  # fmt: skip

    return conn, insert


def _commits(insert: Callable[[int], None], conn: sqlite3.Connection, n: int) -> float:
    """Seconds for ``n`` one-row transactions."""
    start = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        insert(i)
        conn.execute("COMMIT")
    return time.perf_counter() - start


def pages_per_commit(folder: Path, n: int, page_size: int) -> None:
    """Part 2: WAL frames per one-row commit, checkpoints off."""
    print(f"2. WAL pages per one-job commit ({n:,} commits, checkpoints off)")
    for kind in ("rocketjob", "huey-like"):
        path = folder / f"{kind}.db"
        conn, insert = _open(kind, path, page_size, checkpoints=False)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        _commits(insert, conn, n)
        frames = (Path(f"{path}-wal").stat().st_size - 32) / (page_size + 24)
        conn.close()
        print(f"   {kind:<10} {frames / n:5.2f}")


def commit_time(folder: Path, n: int, runs: int, page_size: int) -> None:
    """Part 3: µs per one-row commit, the two tables alternating."""
    print(f"3. µs per one-job commit, synchronous=full ({n:,} commits, {runs} runs each)")
    results: dict[str, list[float]] = {"rocketjob": [], "huey-like": []}
    for _ in range(runs):
        for kind in results:
            conn, insert = _open(kind, folder / f"{kind}.db", page_size, checkpoints=True)
            results[kind].append(1e6 * _commits(insert, conn, n) / n)
            conn.close()
    for kind, values in results.items():
        each = " / ".join(f"{v:.1f}" for v in values)
        print(f"   {kind:<10} median {statistics.median(values):6.1f}   ({each})")


def insert_cpu(folder: Path, n: int, runs: int, page_size: int) -> None:
    """Part 4: µs of CPU per insert, NULLs bound or literal, no fsync."""
    print(f"4. µs per insert, {n:,} in one transaction, synchronous=off (best of {runs})")
    rows = [job_to_row(_doc(i)) for i in range(n)]
    bound = f"INSERT INTO jobs ({', '.join(JOB_COLUMNS)}) VALUES ({placeholders(len(JOB_COLUMNS))})"
    blob = os.urandom(160)
    ways: dict[str, tuple[str, Callable[[sqlite3.Connection, list[Any]], object]]] = {
        "bound NULLs": ("rocketjob", lambda conn, row: conn.execute(bound, row)),
        "insert_job_rows": ("rocketjob", lambda conn, row: insert_job_rows(conn, [row])),
        "huey-like": ("huey-like", lambda conn, row: conn.execute(
            "INSERT INTO task (queue, data, priority) VALUES (?, ?, 0.0)", ("bench", blob))),
    }  # fmt: skip
    best = dict.fromkeys(ways, float("inf"))
    for _ in range(runs):
        for way, (kind, insert) in ways.items():
            conn, _ = _open(kind, folder / f"{kind}.db", page_size, checkpoints=True)
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("BEGIN IMMEDIATE")
            start = time.perf_counter()
            for row in rows:
                insert(conn, row)
            best[way] = min(best[way], 1e6 * (time.perf_counter() - start) / n)
            conn.execute("COMMIT")
            conn.close()
    for way, value in best.items():
        print(f"   {way:<16} {value:6.1f}")


def main() -> None:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-n", type=int, default=5000, help="commits per measurement")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", help="folder for the files (default: a new temp folder)")
    ap.add_argument("--page-size", type=int, default=4096, help="SQLite page size of the files")
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=opts.dir) as tmp:
        folder = Path(tmp)
        fsync_floor(folder)
        pages_per_commit(folder, opts.n, opts.page_size)
        commit_time(folder, opts.n, opts.runs, opts.page_size)
        insert_cpu(folder, opts.n, opts.runs, opts.page_size)


if __name__ == "__main__":
    main()
