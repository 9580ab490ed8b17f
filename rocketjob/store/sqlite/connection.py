"""SQLite store: the one connection of a process and its transactions.

:class:`Database` is the typed collaborator every concern module of the SQLite store is
given (claims, enqueues, dirmon entries, Mission Control queries): one connection per
process, guarded by a lock (SQLite serialises writers anyway), a cross-process writer lock
taken before ``BEGIN IMMEDIATE`` (see :mod:`rocketjob.store.sqlite.lock`), and the
translation of SQLite errors into rocketjob's.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

from rocketjob.errors import DuplicateJob, StoreError, StoreUnavailable
from rocketjob.store.sqlite.lock import WriterLock
from rocketjob.store.sqlite.schema import migrate, parse_url, rollback

R = TypeVar("R")


def duplicate_error(exc: sqlite3.IntegrityError) -> Exception | None:
    """DuplicateJob when ``exc`` is the singleton index refusing a row, else None."""
    if "singleton_key" in str(exc):
        return DuplicateJob(f"duplicate singleton_key: {exc}")
    return None


class Database:
    """The store's connection: reads, write transactions, error translation."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path, options = parse_url(url)
        synchronous = options.get("synchronous", "full").upper()
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise StoreUnavailable(f"store url {url!r}: synchronous must be full or normal")
        busy_ms = int(options.get("busy_timeout", "10000"))
        self.lock = threading.RLock()
        self.conn = self._connect(busy_ms, synchronous)
        self._writer_lock = WriterLock(self.path, busy_ms / 1000)

    def _connect(self, busy_ms: int, synchronous: str) -> sqlite3.Connection:
        folder = os.path.dirname(os.path.abspath(self.path))
        if self.path != ":memory:" and not os.path.isdir(folder):
            raise StoreUnavailable(
                f"store {self.url}: folder {folder} does not exist; create it or fix [store] url"
            )
        try:
            conn = sqlite3.connect(
                self.path, timeout=busy_ms / 1000, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            migrate(conn, self.url)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"store {self.url}: cannot open {self.path}: {exc}") from exc
        return conn

    def write(self, fn: Callable[[sqlite3.Connection], R], *, one_statement: bool = False) -> R:
        """Run ``fn(conn)`` inside one BEGIN IMMEDIATE transaction. With ``one_statement``
        (``fn`` executes exactly one statement) the statement is its own transaction:
        SQLite's implicit one, without the BEGIN and COMMIT round trips."""
        with self.lock:
            conn = self.conn
            self._writer_lock.acquire()
            try:
                if one_statement:
                    return self._statement(conn, fn)
                return self._transaction(conn, fn)
            finally:
                self._writer_lock.release()

    def _statement(self, conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], R]) -> R:
        """``fn(conn)``, one statement in autocommit mode; a failed statement leaves
        nothing behind, so there is nothing to roll back."""
        try:
            return fn(conn)
        except BaseException as exc:
            self._raise_as_store_error(exc)

    def _transaction(self, conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], R]) -> R:
        """BEGIN IMMEDIATE, ``fn(conn)``, COMMIT (ROLLBACK and a rocketjob error on failure)."""
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:  # locked past busy_timeout, disk gone
            raise StoreUnavailable(f"store {self.url}: {exc}") from exc
        try:
            result = fn(conn)
            conn.execute("COMMIT")
        except BaseException as exc:
            rollback(conn)
            self._raise_as_store_error(exc)
        return result

    def _raise_as_store_error(self, exc: BaseException) -> NoReturn:
        """Raise a failed write's ``exc`` as the rocketjob error it stands for: a locked or
        broken database is StoreUnavailable, a refused row DuplicateJob or StoreError;
        anything else as it is."""
        if isinstance(exc, sqlite3.OperationalError):
            raise StoreUnavailable(f"store {self.url}: {exc}") from exc
        if isinstance(exc, sqlite3.IntegrityError):
            raise self.integrity_error(exc) from None
        raise exc

    def integrity_error(self, exc: sqlite3.IntegrityError) -> Exception:
        """DuplicateJob for the singleton index, else a StoreError naming the store."""
        return duplicate_error(exc) or StoreError(f"store {self.url}: {exc}")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """The rows of one read (no transaction: WAL readers never block writers)."""
        with self.lock:
            try:
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"store {self.url}: {exc}") from exc

    def data_version(self) -> int:
        """``PRAGMA data_version``: changes when another connection commits."""
        with self.lock:
            return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def close(self) -> None:
        """Close the connection and the writer lock's file."""
        with self.lock:
            self.conn.close()
            self._writer_lock.close()
