"""The SQLite store's wake-ups (rocketjob/store/sqlite/wake.py) on a real database file:
another connection's commit wakes a waiter, its own commits do not, a nudge does, and an
idle waiter blocks instead of polling while the WAL file is watched."""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import rocketjob.store.sqlite.wake as sqlite_wake
from rocketjob.store.sqlite.wake import Wakeups


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[sqlite3.Connection, str]]:
    path = str(tmp_path / "wake.db")
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE t (x INTEGER)")
    yield conn, path
    conn.close()


def _wakeups(conn: sqlite3.Connection, path: str) -> Wakeups:
    lock = threading.Lock()

    def data_version() -> int:
        with lock:
            return int(conn.execute("PRAGMA data_version").fetchone()[0])

    return Wakeups(f"{path}-wal", data_version)


def _commit_later(path: str, delay: float) -> tuple[threading.Thread, list[float]]:
    """Another connection inserts a row ``delay`` seconds from now (in a thread)."""
    at: list[float] = []

    def run() -> None:
        time.sleep(delay)  # the behaviour under test: a commit arriving during the wait
        other = sqlite3.connect(path, isolation_level=None)
        at.append(time.monotonic())
        other.execute("INSERT INTO t VALUES (1)")
        other.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, at


def _wait_until_woken(wakeups: Wakeups, limit: float = 5.0) -> float:
    wakeups.wait(limit)
    return time.monotonic()


def _nudge_latency(wakeups: Wakeups, delay: float) -> float:
    """Seconds from a nudge sent ``delay`` after a wait began to the waiter waking."""
    nudged: list[float] = []

    def nudge() -> None:
        time.sleep(delay)  # the behaviour under test: a nudge arriving during the wait
        nudged.append(time.monotonic())
        wakeups.nudge()

    thread = threading.Thread(target=nudge)
    thread.start()
    woke = _wait_until_woken(wakeups)
    thread.join()
    return woke - nudged[0]


def test_another_connections_commit_wakes_the_waiter(db: tuple[sqlite3.Connection, str]) -> None:
    conn, path = db
    wakeups = _wakeups(conn, path)
    wakeups.wait(0.05)  # settle
    thread, at = _commit_later(path, 0.3)
    woke = _wait_until_woken(wakeups)
    thread.join()
    assert at, "the other connection never committed"
    assert woke - at[0] < 0.1
    wakeups.close()


def test_own_commits_do_not_wake_the_waiter(db: tuple[sqlite3.Connection, str]) -> None:
    conn, path = db
    wakeups = _wakeups(conn, path)
    wakeups.wait(0.05)
    stop = threading.Event()

    def own_writes() -> None:  # heartbeats: the waiter's own connection
        while not stop.is_set():
            conn.execute("INSERT INTO t VALUES (2)")
            time.sleep(0.05)  # the behaviour under test: heartbeats every 50 ms

    writer = threading.Thread(target=own_writes)
    writer.start()
    start = time.monotonic()
    wakeups.wait(0.6)
    waited = time.monotonic() - start
    stop.set()
    writer.join()
    assert waited >= 0.55, f"woken after {waited:.3f} s by its own commits"
    wakeups.close()


def test_a_nudge_wakes_the_waiter_at_once(db: tuple[sqlite3.Connection, str]) -> None:
    conn, path = db
    wakeups = _wakeups(conn, path)
    wakeups.wait(0.05)
    assert _nudge_latency(wakeups, 0.2) < 0.05
    wakeups.close()
    wakeups.nudge()  # after close: ignored, never written to a reused descriptor


def test_nudges_without_a_waiter_write_once_and_still_wake_the_next_waiters(
    db: tuple[sqlite3.Connection, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An enqueue nudges every time; with nobody waiting the pipe is written once (not
    one syscall per job), and the waiters after that are still woken by later nudges."""
    conn, path = db
    wakeups = _wakeups(conn, path)
    writes: list[int] = []
    real_write = sqlite_wake.os.write

    def counting_write(fd: int, data: bytes) -> int:
        writes.append(fd)
        return real_write(fd, data)

    monkeypatch.setattr(sqlite_wake.os, "write", counting_write)
    for _ in range(100):
        wakeups.nudge()
    assert len(writes) == 1
    started = time.monotonic()
    wakeups.wait(5)  # the pending nudge: at once
    assert time.monotonic() - started < 0.5
    for _ in range(3):  # and every later nudge wakes the next waiter
        assert _nudge_latency(wakeups, 0.05) < 0.05
    assert len(writes) == 4
    wakeups.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux only")
def test_an_idle_waiter_blocks_while_the_wal_is_watched(
    db: tuple[sqlite3.Connection, str],
) -> None:
    conn, path = db
    wakeups = _wakeups(conn, path)
    wakeups.wait(0.1)
    before = wakeups.loops
    wakeups.wait(1.0)
    # the data_version check every VERSION_CHECK_SECONDS, not a poll every 15 ms
    assert wakeups.loops - before <= 1.0 / sqlite_wake.VERSION_CHECK_SECONDS + 3
    wakeups.close()


def test_without_inotify_the_waiter_polls_and_still_wakes(
    db: tuple[sqlite3.Connection, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn, path = db
    monkeypatch.setattr(sqlite_wake._WalWatch, "ensure", lambda self: False)
    wakeups = _wakeups(conn, path)
    wakeups.wait(0.1)
    before = wakeups.loops
    wakeups.wait(0.5)
    assert wakeups.loops - before >= 0.5 / sqlite_wake.IDLE_POLL_SECONDS / 2  # it polls
    thread, at = _commit_later(path, 0.2)
    woke = _wait_until_woken(wakeups)
    thread.join()
    assert woke - at[0] < 0.1
    wakeups.close()
