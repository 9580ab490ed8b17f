"""PostgreSQL store: waking idle workers with LISTEN/NOTIFY.

Every write that queues a job calls ``pg_notify(channel, '')`` inside its own
transaction, so the notification is delivered only if that transaction commits (a rolled
back transactional enqueue wakes nobody). A :class:`Listener` holds one dedicated
autocommit connection that has run ``LISTEN channel`` and blocks on it.

Notifications that arrive while nobody waits stay queued on the connection, so a wait
that follows returns at once: no wake-up is lost while the worker was busy.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import psycopg
from psycopg import sql


class Listener:
    """``wait(timeout)`` returns early when a NOTIFY arrives on ``channel``."""

    def __init__(self, conninfo: str, channel: str) -> None:
        self._conninfo = conninfo
        self._channel = channel
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self._listened = False

    def wait(self, timeout: float) -> None:
        """Block until a notification or ``timeout`` seconds; never raises.

        The connection is opened on first use (that wait then goes on listening). A lost
        connection is reopened by the next wait, which then returns at once, since
        notifications may have been missed meanwhile. Only one thread listens at a time;
        others wait for the lock within their own timeout.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        if not self._lock.acquire(timeout=max(0.0, timeout)):
            return
        try:
            conn = self._conn
            if conn is None or conn.closed:
                conn = self._conn = self._connect(deadline)
                if conn is None or self._listened:
                    return
                self._listened = True
            remaining = max(0.0, deadline - time.monotonic())
            try:
                for _ in conn.notifies(timeout=remaining, stop_after=1):
                    break
                for _ in conn.notifies(timeout=0.0):  # drain what queued up meanwhile
                    pass
            except psycopg.Error:
                conn.close()
                self._conn = None
        finally:
            self._lock.release()

    def _connect(self, deadline: float) -> psycopg.Connection[Any] | None:
        """A fresh connection listening on the channel; None (no error) while the
        database is unreachable, after pausing for what is left of the wait (at most
        0.5 s, so the caller's back-off stays its own)."""
        remaining = deadline - time.monotonic()
        try:
            conn = psycopg.connect(
                self._conninfo, autocommit=True, connect_timeout=max(2, math.ceil(remaining))
            )
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
            return conn
        except psycopg.Error:
            time.sleep(max(0.0, min(0.5, deadline - time.monotonic())))
            return None

    def close(self) -> None:
        """Close the listening connection."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
