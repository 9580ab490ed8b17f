"""The dashboard: counts by state and class, throughput over the last hour, servers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rocketjob.web.auth import require
from rocketjob.web.counts import Snapshot
from rocketjob.web.render import render
from rocketjob.web.routes import NavItem

#: The job lists, as cards and as columns of the per-class table.
STATES = ("running", "scheduled", "queued", "paused", "failed", "aborted", "completed")
#: Chart geometry: the plot area and the margins holding the axis labels.
PLOT_W, PLOT_H, LEFT, BOTTOM, TOP = 600, 80, 36, 18, 8


def throughput(snapshot: Snapshot, minutes: int = 60) -> list[dict[str, Any]]:
    """Finished jobs per minute over the last ``minutes``, oldest first."""
    end = snapshot.now.replace(second=0, microsecond=0)
    start = end - dt.timedelta(minutes=minutes - 1)
    buckets: list[dict[str, Any]] = [
        {"at": start + dt.timedelta(minutes=i), "completed": 0, "failed": 0, "aborted": 0}
        for i in range(minutes)
    ]
    for minute, state, count in snapshot.per_minute:
        index = int((minute - start).total_seconds() // 60)
        if 0 <= index < minutes and state in buckets[index]:
            buckets[index][state] += count
    return buckets


def chart(buckets: list[dict[str, Any]]) -> dict[str, Any]:
    """SVG geometry of the per-minute bars with their axes: jobs per minute on the left
    (0, half and the peak), UTC times every 10 minutes below (attributes only: the CSP
    forbids inline styles)."""
    peak = max((b["completed"] + b["failed"] + b["aborted"] for b in buckets), default=0) or 1
    step = PLOT_W / max(len(buckets), 1)
    bars, ticks = [], []
    for i, b in enumerate(buckets):
        done = round(b["completed"] / peak * PLOT_H, 1)
        bad = round((b["failed"] + b["aborted"]) / peak * PLOT_H, 1)
        x = round(LEFT + i * step, 1)
        bars.append({"x": x, "w": round(step * 0.8, 1), "done": done, "bad": bad,
                     "y_done": TOP + PLOT_H - done, "y_bad": TOP + PLOT_H - done - bad,
                     "label": f"{b['at']:%H:%M} UTC: {b['completed']} completed, "
                              f"{b['failed']} failed, {b['aborted']} aborted"})  # fmt: skip
        if b["at"].minute % 10 == 0 or i == len(buckets) - 1:
            ticks.append({"x": x, "text": f"{b['at']:%H:%M}"})
    levels = sorted({0, peak // 2, peak}) if peak > 1 else [0, 1]
    y_labels = [{"y": round(TOP + PLOT_H - v / peak * PLOT_H, 1), "text": str(v)} for v in levels]
    return {"width": LEFT + PLOT_W + 8, "height": TOP + PLOT_H + BOTTOM, "bars": bars,
            "peak": peak, "ticks": ticks, "y_labels": y_labels, "left": LEFT,
            "right": LEFT + PLOT_W, "base": TOP + PLOT_H, "top": TOP,
            "label_y": TOP + PLOT_H + BOTTOM - 4}  # fmt: skip


def class_counts(snapshot: Snapshot, job_class: str) -> dict[str, int]:
    """One class's jobs per list: its scheduled jobs are taken out of queued."""
    counts = dict(snapshot.by_class.get(job_class, {}))
    scheduled = snapshot.scheduled_by_class.get(job_class, 0)
    counts["scheduled"] = scheduled
    counts["queued"] = max(counts.get("queued", 0) - scheduled, 0)
    return counts


@require("view")
async def dashboard(request: Request) -> Response:
    """GET /: the overview."""
    data = request.app.state.data
    snapshot, servers = await run_in_threadpool(lambda: (data.snapshot(), data.servers()))
    buckets = throughput(snapshot)
    totals = {k: sum(b[k] for b in buckets) for k in ("completed", "failed", "aborted")}
    classes = sorted(
        ((name, class_counts(snapshot, name)) for name in snapshot.by_class),
        key=lambda item: -sum(item[1].values()),
    )
    alive = [s for s in servers if not s["zombie"]]
    context = {
        "snapshot": snapshot, "states": STATES, "classes": classes[:100],
        "more_classes": max(len(classes) - 100, 0), "chart": chart(buckets), "totals": totals,
        "alive": alive, "rates": data.rates.throughput(alive),
        "zombies": [s for s in servers if s["zombie"]],
        "drops": sum(s["appender_drops"] for s in servers),
        "live": True,
    }  # fmt: skip
    return render(request, "dashboard.html", context)


NAV = [NavItem("Dashboard", "/")]
ROUTES = [Route("/", dashboard)]
