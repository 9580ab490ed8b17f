"""Job start stamps: the one thing a benchmark job does.

Each job appends one fixed-width 53-byte line ``id enqueue_ts start_ts pid`` to the file
named by ``$ROCKETJOB_BENCH_STAMPS`` with a single ``O_APPEND`` write (no fsync, no
buffering; a few microseconds), the same line the peer harness's ``jobcommon.stamp``
writes. The driver counts progress by file size and computes drain rates, pickup latency
and exactly-once from the lines.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import NamedTuple

STAMP_ENV = "ROCKETJOB_BENCH_STAMPS"
LINE_LEN = 53

_fd: int | None = None
_pid: int | None = None


class Stamp(NamedTuple):
    """One job start: its id, when it was enqueued, when it started, which process."""

    job: int
    enqueued: float
    started: float
    pid: int


def stamp(i: int, enq_ts: float) -> None:
    """Record that job ``i`` (enqueued at ``enq_ts``) starts now. Fork-safe."""
    global _fd, _pid
    now = time.time()
    pid = os.getpid()
    if _pid != pid or _fd is None:
        _fd = os.open(os.environ[STAMP_ENV], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        _pid = pid
    os.write(_fd, b"%08d %17.6f %17.6f %7d\n" % (int(i), float(enq_ts), now, pid))


def read_stamps(path: Path) -> list[Stamp]:
    """Every stamp written to ``path`` so far."""
    out = []
    try:
        with path.open("rb") as handle:
            for line in handle:
                parts = line.split()
                if len(parts) == 4:
                    out.append(
                        Stamp(int(parts[0]), float(parts[1]), float(parts[2]), int(parts[3]))
                    )
    except FileNotFoundError:
        pass
    return out


def count_stamps(path: Path) -> int:
    """How many stamps ``path`` holds (by its size: no read)."""
    try:
        return path.stat().st_size // LINE_LEN
    except FileNotFoundError:
        return 0
