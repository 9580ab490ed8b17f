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

STATES = ("running", "queued", "paused", "failed", "aborted", "completed")


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


def chart(buckets: list[dict[str, Any]], width: int = 600, height: int = 80) -> dict[str, Any]:
    """SVG bar geometry (attributes only: the CSP forbids inline styles)."""
    peak = max((b["completed"] + b["failed"] + b["aborted"] for b in buckets), default=0) or 1
    step = width / max(len(buckets), 1)
    bars = []
    for i, b in enumerate(buckets):
        done = round(b["completed"] / peak * height, 1)
        bad = round((b["failed"] + b["aborted"]) / peak * height, 1)
        bars.append({"x": round(i * step, 1), "w": round(step * 0.8, 1), "done": done,
                     "bad": bad, "y_done": height - done, "y_bad": height - done - bad,
                     "label": f"{b['at']:%H:%M}: {b['completed']} completed, "
                              f"{b['failed']} failed, {b['aborted']} aborted"})  # fmt: skip
    return {"width": width, "height": height, "bars": bars, "peak": peak}


@require("view")
async def dashboard(request: Request) -> Response:
    """GET /: the overview."""
    data = request.app.state.data
    snapshot, servers = await run_in_threadpool(lambda: (data.snapshot(), data.servers()))
    buckets = throughput(snapshot)
    totals = {k: sum(b[k] for b in buckets) for k in ("completed", "failed", "aborted")}
    classes = sorted(snapshot.by_class.items(), key=lambda item: -sum(item[1].values()))
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
