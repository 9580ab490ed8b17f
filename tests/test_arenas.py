"""rocketjob.arenas: a worker caps glibc's malloc arenas (counted with glibc's own
``malloc_info``, in a fresh interpreter whose threads allocate at once)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rocketjob import arenas

PROGRAM = """
import ctypes, os, sys, tempfile, threading
from rocketjob import arenas
took = arenas.limit_arenas() if sys.argv[1] == "cap" else None
barrier = threading.Barrier(6)
kept = []
def allocate():
    barrier.wait()
    kept.append([bytearray(20000) for _ in range(50)])  # malloc, not pymalloc or mmap
threads = [threading.Thread(target=allocate) for _ in range(6)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
path = tempfile.mktemp()
stream = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, stream)
libc.fclose(stream)
print(took, open(path).read().count("<heap nr="))
os.unlink(path)
"""


def _heaps(mode: str, **env: str) -> tuple[str, int]:
    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True,
                          text=True, check=True, env={**environ, **env}, timeout=60)  # fmt: skip
    took, heaps = done.stdout.split()
    return took, int(heaps)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_capped_process_uses_at_most_two_arenas() -> None:
    assert _heaps("cap") == ("True", arenas.WORKER_ARENAS)
    _, heaps = _heaps("plain")
    assert heaps > arenas.WORKER_ARENAS, "threads allocating at once get arenas of their own"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_the_operators_malloc_arena_max_is_left_alone() -> None:
    took, heaps = _heaps("cap", MALLOC_ARENA_MAX="4")
    assert took == "False" and arenas.WORKER_ARENAS < heaps <= 4
