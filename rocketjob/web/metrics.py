"""Prometheus text for ``/metrics``.

Exact: jobs by state and class (from the counts cache, at most ``counts_ttl_seconds``
old), servers alive and zombie, threads and busy threads, CPU and memory, appender drops
(``info.appender_drops``). Per live worker process (label ``server``), from its heartbeat
``info["stats"]`` (:mod:`rocketjob.stats`): started/completed/failed counters and the
pickup-latency and run-time histograms; they start at zero with each process, which
Prometheus treats as a counter reset. Approximated (labelled ``_last_hour``): run-time
and pickup-latency histograms and finished counts computed from the jobs still stored
that finished in the last hour (the histograms from the 5,000 most recent of them); jobs
destroyed on completion leave no record and are not in them."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterable
from typing import Any

from rocketjob.web.counts import Snapshot
from rocketjob.web.rates import HistogramData, server_stats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600)


def _label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: Any) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    """Exact text of a sample value: integers in full (``1000000``, not ``1e+06``)."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]

    def sample(self, name: str, value: float, **labels: Any) -> None:
        self.lines.append(f"{name}{_labels(**labels)} {_number(value)}")

    def histogram(self, name: str, help_text: str, values: Iterable[float]) -> None:
        self.family(name, "histogram", help_text)
        data = sorted(values)
        for bound in BUCKETS:
            self.sample(f"{name}_bucket", sum(1 for v in data if v <= bound), le=bound)
        self.sample(f"{name}_bucket", len(data), le="+Inf")
        self.sample(f"{name}_sum", round(sum(data), 6))
        self.sample(f"{name}_count", len(data))


def render_metrics(snapshot: Snapshot, servers: list[dict[str, Any]]) -> str:
    """The whole exposition text."""
    out = _Writer()
    _job_gauges(out, snapshot)
    _server_gauges(out, servers)
    _worker_stats(out, servers)
    _recent(out, snapshot)
    out.family("rocketjob_counts_age_seconds", "gauge", "Age of the cached job counts.")
    out.sample("rocketjob_counts_age_seconds", round(time.monotonic() - snapshot.taken_at, 3))
    return "\n".join(out.lines) + "\n"


def _job_gauges(out: _Writer, snapshot: Snapshot) -> None:
    out.family("rocketjob_jobs", "gauge", "Jobs in the store by state and class.")
    if snapshot.by_class:
        for job_class, states in sorted(snapshot.by_class.items()):
            for state, count in sorted(states.items()):
                out.sample("rocketjob_jobs", count, state=state, job_class=job_class)
    out.family("rocketjob_jobs_by_state", "gauge", "Jobs in the store by state.")
    for state, count in sorted(snapshot.by_state.items()):
        out.sample("rocketjob_jobs_by_state", count, state=state)


def _server_gauges(out: _Writer, servers: list[dict[str, Any]]) -> None:
    out.family("rocketjob_servers_alive", "gauge", "Servers with a recent heartbeat.")
    out.sample("rocketjob_servers_alive", sum(1 for s in servers if not s["zombie"]))
    out.family("rocketjob_servers_zombie", "gauge", "Servers whose heartbeat is too old.")
    out.sample("rocketjob_servers_zombie", sum(1 for s in servers if s["zombie"]))
    per_server = (
        ("rocketjob_server_threads", "gauge", "Threads of the server's pool.", "threads"),
        ("rocketjob_server_threads_busy", "gauge", "Threads running a job.", "busy"),
    )
    for name, kind, help_text, key in per_server:
        out.family(name, kind, help_text)
        for s in servers:
            out.sample(name, s[key], server=s["name"])
    info_gauges = (
        ("rocketjob_server_cpu_percent", "CPU use of the server process.", "cpu_percent"),
        ("rocketjob_server_memory_rss_bytes", "Resident memory of the server.", "memory_rss"),
        ("rocketjob_server_async_slots", "Slots of the server's event loop.", "async_slots"),
        ("rocketjob_server_async_busy", "Event loop slots running a coroutine job.", "async_busy"),
    )
    for name, help_text, key in info_gauges:
        out.family(name, "gauge", help_text)
        for s in servers:
            value = (s.get("info") or {}).get(key)
            if isinstance(value, int | float):
                out.sample(name, value, server=s["name"])
    _recycles(out, servers)
    out.family("rocketjob_appender_drops_total", "counter", "Log records dropped by appenders.")
    for s in servers:
        out.sample("rocketjob_appender_drops_total", s["appender_drops"], server=s["name"])


def _recycles(out: _Writer, servers: list[dict[str, Any]]) -> None:
    """Worker recycles (``[worker] max_jobs`` / ``max_memory_mb``) per supervisor: each
    worker reports how many its supervisor had done when it was forked; the newest
    worker's figure is the supervisor's (a recycle shows once its replacement heartbeats)."""
    counts: dict[tuple[str, int], int] = {}
    for s in servers:
        info = s.get("info") or {}
        pid, count = info.get("supervisor_pid"), info.get("recycles")
        if isinstance(pid, int) and isinstance(count, int):
            key = (str(s.get("host", "")), pid)
            counts[key] = max(counts.get(key, 0), count)
    out.family("rocketjob_worker_recycles_total", "counter",
               "Worker processes recycled by max_jobs or max_memory_mb.")  # fmt: skip
    for (host, pid), count in sorted(counts.items()):
        out.sample("rocketjob_worker_recycles_total", count, host=host, supervisor_pid=pid)


def _worker_stats(out: _Writer, servers: list[dict[str, Any]]) -> None:
    """Counters and histograms from the live servers' heartbeat ``info["stats"]``."""
    live = [(s["name"], stats) for s in servers
            if not s["zombie"] and (stats := server_stats(s)) is not None]  # fmt: skip
    for what in ("started", "completed", "failed"):
        name = f"rocketjob_jobs_{what}_total"
        out.family(name, "counter", f"Jobs {what} by the worker process since it started.")
        for server, stats in live:
            out.sample(name, getattr(stats, what), server=server)
    histograms = (
        ("rocketjob_job_pickup_seconds", "pickup",
         "Seconds from a job becoming runnable (created or run_at) to its start."),
        ("rocketjob_job_run_seconds", "run", "Seconds a job ran (perform and callbacks)."),
    )  # fmt: skip
    for name, attr, help_text in histograms:
        out.family(name, "histogram", help_text + " Per worker process since it started.")
        for server, stats in live:
            data: HistogramData | None = getattr(stats, attr)
            if data is None:
                continue
            for bound, count in data.cumulative():
                out.sample(f"{name}_bucket", count, server=server, le=_le(bound))
            out.sample(f"{name}_sum", round(data.total, 6), server=server)
            out.sample(f"{name}_count", data.count, server=server)


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else f"{bound:g}"


def _recent(out: _Writer, snapshot: Snapshot) -> None:
    out.family("rocketjob_jobs_finished_last_hour", "gauge",
               "Stored jobs that finished in the last hour, by state (approximate).")  # fmt: skip
    for state in ("completed", "failed", "aborted"):
        out.sample("rocketjob_jobs_finished_last_hour", snapshot.finished(state), state=state)
    out.histogram(
        "rocketjob_job_run_seconds_last_hour",
        "Run time of recent stored jobs finished in the last hour (approximate).",
        [run for run, _ in snapshot.timings],
    )
    out.histogram(
        "rocketjob_job_pickup_seconds_last_hour",
        "Queue wait, started_at - max(created_at, run_at), of the same jobs (approximate).",
        [wait for _, wait in snapshot.timings],
    )


def now_utc() -> dt.datetime:
    """The current time (the default clock of the app)."""
    return dt.datetime.now(dt.UTC)
