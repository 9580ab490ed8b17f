"""``type = "file"``: text or JSON lines appended to a file, reopened on USR1, rotated.

Each batch is one ``write()`` on a file opened with ``O_APPEND``, so several processes can
share one file without interleaving lines. Rotation (by size, ``max_bytes``, or by time,
``rotate_every = "hourly" | "daily"`` or seconds) renames ``path`` to ``path.1``, shifts
older files up and deletes those past ``retention``. Rotating processes take an ``flock`` on
``path.lock`` and re-check, so two processes never rotate the same file twice; a process that
finds its file renamed by another one just reopens. Without rotation keys the file grows until
something else (logrotate) moves it and sends USR1, which calls :meth:`FileAppender.reopen`.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from appenders.config import EntryReader
from appenders.record import Record, format_text

_EVERY = {"hourly": 3600.0, "daily": 86400.0}


@dataclass(frozen=True)
class FileOptions:
    """The keys of a ``file`` entry."""

    path: str
    format: str = "text"
    max_bytes: int | None = None
    rotate_every: float | None = None
    retention: int = 7


def parse(reader: EntryReader) -> FileOptions:
    """Read a ``file`` entry."""
    path = reader.text("path")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        reader.fail("path", f"directory {parent} does not exist")
    every = reader.take("rotate_every", None, (str, int, float), '"hourly", "daily" or seconds')
    if isinstance(every, str):
        if every not in _EVERY:
            reader.fail("rotate_every", f'must be "hourly", "daily" or seconds, got {every!r}')
        every = _EVERY[every]
    elif every is not None and every <= 0:
        reader.fail("rotate_every", f"must be greater than 0, got {every}")
    return FileOptions(
        path=path,
        format=reader.text("format", "text", ("text", "json")),
        max_bytes=reader.integer("max_bytes", None, minimum=1),
        rotate_every=None if every is None else float(every),
        retention=reader.integer("retention", 7, minimum=0),
    )


def encode(records: Sequence[Record], fmt: str) -> bytes:
    """Records as lines: JSON objects or text."""
    if fmt == "json":
        return b"".join(r.to_json() + b"\n" for r in records)
    return "".join(format_text(r) + "\n" for r in records).encode("utf-8", "replace")


class FileAppender:
    """Appends records to ``path``; see the module docstring for rotation and reopen."""

    def __init__(self, options: FileOptions, clock: Callable[[], float] = time.time) -> None:
        self.options = options
        self._clock = clock
        self._fd = -1
        self._size = 0
        self._next_rotation = float("inf")
        self._open()

    def _open(self) -> None:
        self._fd = os.open(self.options.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._size = os.fstat(self._fd).st_size
        every = self.options.rotate_every
        if every:
            self._next_rotation = (self._clock() // every + 1) * every

    def emit(self, record: Record) -> None:
        """Append one record."""
        self.emit_batch([record])

    def emit_batch(self, records: Sequence[Record]) -> None:
        """Append records with one write, rotating first when due."""
        if self._fd < 0:
            self._open()
        data = encode(records, self.options.format)
        if self._rotation_due(len(data)):
            self._rotate()
        os.write(self._fd, data)
        self._size += len(data)

    def _rotation_due(self, incoming: int) -> bool:
        o = self.options
        if o.max_bytes is not None and self._size > 0 and self._size + incoming > o.max_bytes:
            return True
        return self._clock() >= self._next_rotation

    def _rotate(self) -> None:
        lock_fd = os.open(self.options.path + ".lock", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            if self._still_current():
                shift_files(self.options.path, self.options.retention)
        finally:
            os.close(lock_fd)  # closing releases the lock
        self.reopen()

    def _still_current(self) -> bool:
        """Whether ``path`` is still our file (another process may have rotated it)."""
        try:
            on_disk = os.stat(self.options.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(self._fd)
        return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)

    def flush(self) -> None:
        """Nothing is buffered: every batch is written at once."""

    def reopen(self) -> None:
        """Close and open ``path`` again (after logrotate moved it)."""
        self.close()
        self._open()

    def close(self) -> None:
        """Close the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def shift_files(path: str, retention: int) -> None:
    """``path`` -> ``path.1`` -> ``path.2`` ..., deleting what falls past ``retention``."""
    if retention == 0:
        os.unlink(path)
        return
    oldest = f"{path}.{retention}"
    if os.path.exists(oldest):
        os.unlink(oldest)
    for n in range(retention - 1, 0, -1):
        if os.path.exists(f"{path}.{n}"):
            os.rename(f"{path}.{n}", f"{path}.{n + 1}")
    os.rename(path, f"{path}.1")


def create(options: FileOptions) -> FileAppender:
    """The appender for a parsed entry."""
    return FileAppender(options)
