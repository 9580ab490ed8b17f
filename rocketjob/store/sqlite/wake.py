"""How an idle SQLite worker learns that a job may be waiting: ``wait_for_jobs``.

Two sources wake a waiter:

* **Another connection committed** (another process enqueued). Every commit appends to
  the WAL file, so on Linux an ``inotify`` watch on ``<db>-wal`` wakes the waiter at the
  writer's first write; ``PRAGMA data_version`` then says whether the commit is someone
  else's (our own heartbeats must not wake us). A writer appends its frames before its
  fsync and publishes the commit after it, so for ``SETTLE_SECONDS`` after a WAL change
  the waiter re-checks every ``POLL_SECONDS``. Without inotify (another OS, or no WAL file
  yet) the waiter polls instead: a ``stat`` of the WAL file every ``POLL_SECONDS`` for a
  second after the last change (a trickle of jobs keeps it there), then every
  ``IDLE_POLL_SECONDS``.
* **This process wrote** something a worker should see (an enqueue, a re-queue): the store
  calls :meth:`Wakeups.nudge`, which writes a byte to a pipe the waiter selects on.

An idle waiter with the watch blocks in ``select`` and checks ``data_version`` only every
``VERSION_CHECK_SECONDS``: 4 wake-ups a second instead of ~65 (polling cost ~1.3% of a
core on this 2-core VM, a timer wake-up costing ~60-110 µs of CPU here).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import struct
import sys
import threading
import time
from collections.abc import Callable

POLL_SECONDS = 0.004
IDLE_POLL_SECONDS = 0.015
RECENT_SECONDS = 1.0
#: Longest time between two data_version checks while the WAL file looks unchanged.
VERSION_CHECK_SECONDS = 0.25
#: How long after a WAL change data_version is checked at every poll.
SETTLE_SECONDS = 0.05

_IN_MODIFY, _IN_DELETE_SELF, _IN_MOVE_SELF, _IN_IGNORED = 0x2, 0x400, 0x800, 0x8000
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (+ name)


class _WalWatch:
    """An inotify watch on one file (Linux); ``fd`` is readable after it was written."""

    def __init__(self, path: str) -> None:
        self.path = path.encode()
        self.fd = -1
        self.watching = False
        if not sys.platform.startswith("linux"):
            return
        try:
            self._libc = ctypes.CDLL(None, use_errno=True)
            self.fd = int(self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC))
        except (OSError, AttributeError):  # no inotify here: the waiter polls
            self.fd = -1

    def ensure(self) -> bool:
        """Watch the file if it exists and is not watched yet; True while watched."""
        if self.fd >= 0 and not self.watching:
            mask = _IN_MODIFY | _IN_DELETE_SELF | _IN_MOVE_SELF
            self.watching = self._libc.inotify_add_watch(self.fd, self.path, mask) >= 0
        return self.watching

    def drain(self) -> None:
        """Read the pending events; a deleted or moved file is watched again later."""
        while True:
            try:
                data = os.read(self.fd, 4096)
            except (BlockingIOError, OSError):
                return
            offset = 0
            while offset + _EVENT.size <= len(data):
                _, mask, _, length = _EVENT.unpack_from(data, offset)
                if mask & (_IN_DELETE_SELF | _IN_MOVE_SELF | _IN_IGNORED):
                    self.watching = False
                offset += _EVENT.size + length

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            self.watching = False


class Wakeups:
    """The waiting side of one SQLite store (see the module docstring)."""

    def __init__(self, wal_path: str | None, read_data_version: Callable[[], int]) -> None:
        self._wal_path = wal_path
        self._read_data_version = read_data_version
        self._data_version = read_data_version()
        self._watch = _WalWatch(wal_path) if wal_path else None
        self._nudge_r, self._nudge_w = os.pipe()
        self._pipe_lock = threading.Lock()
        self._nudge_pending = False  # a byte is in the pipe (guarded by _pipe_lock)
        os.set_blocking(self._nudge_r, False)
        os.set_blocking(self._nudge_w, False)
        self._wal_seen = self._wal_marker()
        self._last_change = 0.0
        self._version_checked = 0.0
        self._wal_changed_at = 0.0
        self.loops = 0  # times a waiter woke up (tests: an idle waiter must not spin)

    def nudge(self) -> None:
        """Wake a waiter in this process now (safe from any thread, and after close)."""
        with self._pipe_lock:  # never write to a closed (maybe reused) descriptor
            if self._nudge_w >= 0 and not self._nudge_pending:
                # One byte at most: a process that enqueues a lot and never waits (a web
                # app) writes the pipe once, not once per job.
                with contextlib.suppress(BlockingIOError):
                    os.write(self._nudge_w, b"\0")
                self._nudge_pending = True

    def wait(self, timeout: float) -> None:
        """Return when another connection committed, on a nudge, or after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            self.loops += 1
            if self._committed_elsewhere():
                self._last_change = time.monotonic()
                return
            now = time.monotonic()
            remaining = deadline - now
            if remaining <= 0:
                return
            fds = [self._nudge_r]
            if now - self._wal_changed_at < SETTLE_SECONDS:
                interval = POLL_SECONDS  # a commit may be on its way: look again soon
            elif self._watch is not None and self._watch.ensure():
                interval = VERSION_CHECK_SECONDS  # the watch wakes us at the next write
                fds.append(self._watch.fd)
            elif now - self._last_change < RECENT_SECONDS:
                interval = POLL_SECONDS
            else:
                interval = IDLE_POLL_SECONDS
            ready, _, _ = select.select(fds, [], [], min(interval, remaining))
            if self._nudge_r in ready:
                with self._pipe_lock, contextlib.suppress(BlockingIOError):
                    self._nudge_pending = False
                    os.read(self._nudge_r, 4096)
                return
            if len(fds) > 1 and fds[1] in ready and self._watch is not None:
                self._watch.drain()

    def _committed_elsewhere(self) -> bool:
        """True once another connection has committed since the last look. A ``stat`` of
        the WAL file (every commit writes it) filters cheaply; only when it changed does
        ``PRAGMA data_version`` say whether the commit was another connection's."""
        marker = self._wal_marker()
        now = time.monotonic()
        if marker != self._wal_seen:
            self._wal_seen, self._wal_changed_at = marker, now
        # Look at data_version for a while after the WAL changed (its commit may not be
        # published yet), and every VERSION_CHECK_SECONDS anyway: modification times are
        # coarse on some filesystems and a WAL restarted after a checkpoint keeps its
        # size, so a commit can leave the marker as it was.
        settling = now - self._wal_changed_at < SETTLE_SECONDS
        if not settling and now - self._version_checked < VERSION_CHECK_SECONDS:
            return False
        self._version_checked = now
        version = self._read_data_version()
        if version == self._data_version:
            return False
        self._data_version = version
        return True

    def _wal_marker(self) -> tuple[int, int, int] | None:
        """The WAL file's inode, size and modification time (None without a WAL)."""
        if self._wal_path is None:
            return None
        try:
            info = os.stat(self._wal_path)
        except FileNotFoundError:  # no WAL yet (or the last connection removed it)
            return None
        return (info.st_ino, info.st_size, info.st_mtime_ns)

    def close(self) -> None:
        """Close the watch and the pipe."""
        if self._watch is not None:
            self._watch.close()
        with self._pipe_lock:
            for fd in (self._nudge_r, self._nudge_w):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._nudge_r = self._nudge_w = -1
