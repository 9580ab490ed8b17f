"""CPU and latency measuring, after the peer harness's method.

CPU is user+sys (plus reaped children's) of whole process trees read from ``/proc``: the
trees are walked afresh at every sample, so forked workers and new database backends are
seen at once, and children that exited are still counted once (in their parent's
``cutime``/``cstime``). Resolution is one clock tick (10 ms) per process.
"""

from __future__ import annotations

import itertools
import os
import resource
import socket
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as handle:
                out += [int(x) for x in handle.read().split()]
        except OSError:
            pass
    return out


def _cpu_ticks(pid: int) -> int | None:
    """utime+stime+cutime+cstime of ``pid`` in clock ticks; None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    rest = data[data.rindex(b")") + 2 :].split()
    return int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])


class TreeCpu:
    """Cumulative CPU seconds of the process trees rooted at ``roots`` (call it)."""

    def __init__(self, roots: Iterable[int]) -> None:
        self.roots = list(roots)
        self.max_procs = 0

    def __call__(self) -> float:
        total, seen, stack = 0, 0, list(self.roots)
        while stack:
            pid = stack.pop()
            ticks = _cpu_ticks(pid)
            if ticks is None:
                continue
            total += ticks
            seen += 1
            stack += _children(pid)
        self.max_procs = max(self.max_procs, seen)
        return total / CLK_TCK


def self_cpu() -> float:
    """User+sys CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def interpolate(samples: Sequence[tuple[float, float]], t: float) -> float:
    """The cumulative value at time ``t`` from ``(time, value)`` samples (linear)."""
    if t <= samples[0][0]:
        return samples[0][1]
    for (t0, v0), (t1, v1) in itertools.pairwise(samples):
        if t0 <= t <= t1:
            return v1 if t1 == t0 else v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return samples[-1][1]


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values`` by linear interpolation; None if empty."""
    xs = sorted(values)
    if not xs:
        return None
    k = (len(xs) - 1) * q
    f = int(k)
    c = min(f + 1, len(xs) - 1)
    return xs[f] + (xs[c] - xs[f]) * (k - f)


_DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "mongodb": 27017}


def server_pids(url: str) -> list[int]:
    """PIDs of the local database server behind a store URL, whose CPU is charged to the
    system (the postmaster, whose tree holds every backend; the MongoDB server). Empty
    for SQLite (no server) and for servers not on this machine."""
    parts = urlsplit(url)
    port = _DEFAULT_PORTS.get(parts.scheme)
    if port is None:
        return []
    host = parts.hostname or "127.0.0.1"
    try:
        if not socket.gethostbyname(host).startswith("127."):
            return []
    except OSError:
        return []
    port = parts.port or port
    import psutil

    pids = {
        conn.pid
        for conn in psutil.net_connections(kind="tcp")
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port
    }
    return sorted(pid for pid in pids if pid is not None)
