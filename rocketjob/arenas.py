"""glibc malloc arenas of a worker process: at most :data:`WORKER_ARENAS`.

glibc gives threads that allocate at the same time arenas of their own, up to eight per
core, and an arena keeps its high-water mark. A worker's ten job threads each holding a
batch slice (its records, decoded records and output) then grew the worker from 40 to 45
MiB between a 100,000- and a 1,000,000-row upload (``bin/bench --batch``, SQLite: +12%,
no leak: with two arenas it stayed at 33-34 MiB, at the same speed; docs/performance.md).
So a worker process caps its arenas with ``mallopt(M_ARENA_MAX)`` through ctypes when it
starts, before its threads allocate. ``MALLOC_ARENA_MAX`` in the environment, when set,
is the operator's choice and is left alone (glibc reads it itself). Not glibc (musl,
macOS): nothing is done.
"""

from __future__ import annotations

import ctypes
import os

#: Arenas a worker process may use (glibc's default on 2 cores is 16).
WORKER_ARENAS = 2
#: glibc's ``mallopt`` parameter number for the arena limit (malloc.h).
M_ARENA_MAX = -8


def limit_arenas(count: int = WORKER_ARENAS) -> bool:
    """Cap this process's malloc arenas at ``count``; True if glibc took it."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no C library with mallopt (not glibc)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, count))
