"""``/metrics``: the exposition text parsed back, worker counters and histograms from
live servers' heartbeat ``info["stats"]`` with the histogram invariants, and the
dashboard's throughput from the same counters."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from typing import Any

from starlette.testclient import TestClient

import rocketjob
from rocketjob.stats import BUCKETS, JobStats
from tests.web.conftest import HTML

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


def parse(text: str) -> tuple[dict[str, str], list[tuple[str, dict[str, str], float]]]:
    """Families (name -> type) and samples; asserts the text format as it goes."""
    types: dict[str, str] = {}
    samples: list[tuple[str, dict[str, str], float]] = []
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name not in types, f"family {name} declared twice"
            types[name] = kind
            continue
        if line.startswith("# HELP ") or not line:
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, label_text, value = match.groups()
        labels = dict(LABEL.findall(label_text or ""))
        if label_text:
            assert ",".join(f'{k}="{v}"' for k, v in labels.items()) == label_text, line
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, f"sample {name} before its # TYPE"
        samples.append((name, labels, float(value)))
    return types, samples


def register(
    name: str, stats: dict[str, Any] | None, beat: dt.datetime, started: dt.datetime
) -> None:
    info: dict[str, Any] = {"cpu_percent": 1.0, "memory_rss": 1}
    if stats is not None:
        info["stats"] = stats
    rocketjob.current_store().register_server({
        "name": name, "host": name.split(":")[0], "pid": int(name.split(":")[1]),
        "state": "running", "started_at": started, "heartbeat_at": beat, "threads": 4,
        "busy": 0, "info": info, "commands": [],
    })  # fmt: skip


def worker_stats(runs: list[float], pickups: list[float], failed: int = 0) -> dict[str, Any]:
    stats = JobStats()
    for pickup in pickups:
        stats.job_started(pickup)
    for i, run in enumerate(runs):
        stats.job_finished(i >= failed, run)
    return stats.as_dict()


def test_worker_counters_and_histograms_from_live_servers(client: TestClient) -> None:
    now = dt.datetime.now(dt.UTC)
    runs, pickups = [0.0004, 0.02, 0.3, 0.3, 7.0, 4000.0], [0.001, 0.5, 2.0, 2.0, 45.0, 0.0]
    register("alpha:1", worker_stats(runs, pickups, failed=2), now, now - dt.timedelta(hours=1))
    register("beta:2", worker_stats([1.0], [0.1]), now, now - dt.timedelta(minutes=3))
    register(
        "old:3",
        worker_stats([1.0], [1.0]),
        now - dt.timedelta(hours=2),
        now - dt.timedelta(hours=3),
    )
    register("legacy:4", None, now, now)
    types, samples = parse(client.get("/metrics").text)

    values = {(n, tuple(sorted(lbl.items()))): v for n, lbl, v in samples}
    for what, expected in (("started", 6), ("completed", 4), ("failed", 2)):
        assert types[f"rocketjob_jobs_{what}_total"] == "counter"
        assert values[(f"rocketjob_jobs_{what}_total", (("server", "alpha:1"),))] == expected
    servers = {lbl.get("server") for n, lbl, _ in samples if n == "rocketjob_jobs_started_total"}
    assert servers == {"alpha:1", "beta:2"}  # the zombie and the server without stats: none

    for family, observed in (
        ("rocketjob_job_run_seconds", runs),
        ("rocketjob_job_pickup_seconds", pickups),
    ):
        assert types[family] == "histogram"
        buckets: dict[str, list[tuple[float, float]]] = defaultdict(list)
        sums, counts = {}, {}
        for name, labels, value in samples:
            server = labels.get("server", "")
            if name == f"{family}_bucket":
                buckets[server].append((float(labels["le"].replace("+Inf", "inf")), value))
            elif name == f"{family}_sum":
                sums[server] = value
            elif name == f"{family}_count":
                counts[server] = value
        assert set(buckets) == set(sums) == set(counts) == {"alpha:1", "beta:2"}
        for server, series in buckets.items():
            bounds = [b for b, _ in series]
            assert bounds == sorted(bounds) and bounds[-1] == math.inf  # ascending, ends +Inf
            assert bounds[:-1] == [float(b) for b in BUCKETS]
            cumulative = [c for _, c in series]
            assert cumulative == sorted(cumulative), (family, server)  # never decreasing
            assert cumulative[-1] == counts[server]  # +Inf bucket == _count
            assert sums[server] >= 0
        alpha = dict(buckets["alpha:1"])
        assert counts["alpha:1"] == len(observed)
        assert math.isclose(sums["alpha:1"], sum(observed), rel_tol=1e-6)
        for bound, count in alpha.items():
            assert count == sum(1 for v in observed if v <= bound), (family, bound)


def test_large_values_are_printed_exactly(client: TestClient) -> None:
    now = dt.datetime.now(dt.UTC)
    stats = worker_stats([], [])
    stats.update(started=12_345_678, completed=12_345_677, failed=1)
    register("big:1", stats, now, now - dt.timedelta(days=9))
    text = client.get("/metrics").text
    assert 'rocketjob_jobs_started_total{server="big:1"} 12345678\n' in text
    assert "e+" not in text


def test_malformed_stats_are_skipped(client: TestClient) -> None:
    now = dt.datetime.now(dt.UTC)
    register("odd:1", {"started": "many", "completed": 1, "failed": 0}, now, now)
    broken = worker_stats([1.0], [1.0])
    broken["run_seconds"]["counts"] = [1]  # wrong length
    register("odd:2", broken, now, now)
    _, samples = parse(client.get("/metrics").text)
    names = {(n, lbl.get("server")) for n, lbl, _ in samples}
    assert ("rocketjob_jobs_started_total", "odd:1") not in names
    assert ("rocketjob_jobs_started_total", "odd:2") in names
    assert ("rocketjob_job_run_seconds_count", "odd:2") not in names
    assert ("rocketjob_job_pickup_seconds_count", "odd:2") in names


def test_dashboard_throughput_from_counters(client: TestClient) -> None:
    started = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    beat = started + dt.timedelta(minutes=10)
    stats = worker_stats([0.1] * 100, [0.1] * 100, failed=10)  # 90 completed, 10 failed
    register("alpha:1", stats, beat, started)
    page = client.get("/", headers=HTML).text
    assert "averaged since the processes started" in page  # one heartbeat seen so far
    assert re.search(r'rate-completed">9\.0<', page) and re.search(r'rate-failed">1\.0<', page)
    stats["completed"], stats["failed"] = 90 + 60, 10  # 60 more in the next 30 s
    register("alpha:1", stats, beat + dt.timedelta(seconds=30), started)
    page = client.get("/", headers=HTML).text
    assert "over their heartbeats of the last 5 minutes" in page
    assert re.search(r'rate-completed">120\.0<', page) and re.search(r'rate-failed">0\.0<', page)
    assert "150" in page and "completed since start" in page


def test_dashboard_without_worker_counters(client: TestClient) -> None:
    register("legacy:4", None, dt.datetime.now(dt.UTC), dt.datetime.now(dt.UTC))
    page = client.get("/", headers=HTML).text
    assert "No live worker reports job counters" in page
