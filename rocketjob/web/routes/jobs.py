"""Job lists per state (filters, sorting, keyset pagination) and the job page."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rocketjob import attempts, timing
from rocketjob.corrupt import find_corruption
from rocketjob.job import resolve_class
from rocketjob.web import inline
from rocketjob.web.auth import current_user, require
from rocketjob.web.batch import batch_facts
from rocketjob.web.data import JOB_ACTIONS, PAGE_SIZE, VIEWS
from rocketjob.web.render import render, render_error
from rocketjob.web.routes import NavItem

#: Which actions make sense from which state (the state machine still decides).
ACTIONS_BY_STATE = {
    "queued": ("pause", "abort", "run_now", "destroy"),
    "scheduled": ("run_now", "pause", "abort", "destroy"),
    "running": ("pause", "abort", "destroy"),
    "paused": ("resume", "abort", "destroy"),
    "failed": ("retry", "abort", "destroy"),
    "aborted": ("destroy",),
    "completed": ("destroy",),
    "all": JOB_ACTIONS,
}


def list_filters(request: Request) -> dict[str, str]:
    """The filters of a job list from its query string (also used by bulk actions)."""
    params = request.query_params
    return {
        "job_class": params.get("class", "").strip(),
        "text": params.get("q", "").strip()[:200],
        "order": "oldest" if params.get("order") == "oldest" else "newest",
    }


@require("view")
async def job_list(request: Request) -> Response:
    """GET /jobs/{view}: one page of jobs in a state."""
    view = VIEWS.get(request.path_params["view"])
    if view is None:
        return render_error(request, 404, "no such job list")
    filters = list_filters(request)
    after = request.query_params.get("after") or None
    data = request.app.state.data

    def load() -> Any:
        page = data.list_jobs(
            view, job_class=filters["job_class"], text=filters["text"],
            newest_first=filters["order"] == "newest", after=after, limit=PAGE_SIZE,
        )  # fmt: skip
        return page, data.snapshot()

    page, snapshot = await run_in_threadpool(load)
    now = data.now()
    for doc in page.jobs:  # how long each ran and waited, shown in the list's columns
        doc.update(timing.job_times(doc, now))
    query = {"class": filters["job_class"], "q": filters["text"], "order": filters["order"]}
    query = {k: v for k, v in query.items() if v and not (k == "order" and v == "newest")}
    next_url = (
        f"/jobs/{view.name}?{urlencode({**query, 'after': page.next_after})}"
        if page.next_after else None
    )  # fmt: skip
    user = current_user(request)
    context = {
        "view": view, "views": VIEWS.values(), "page": page, "filters": filters,
        "next_url": next_url, "first_url": f"/jobs/{view.name}?{urlencode(query)}",
        "query_string": urlencode(query), "after": after, "snapshot": snapshot,
        "classes": sorted(snapshot.by_class), "bulk_actions": ACTIONS_BY_STATE[view.name],
        "can_bulk": user is not None and user.can("admin"), "live": after is None,
    }  # fmt: skip
    return render(request, "jobs.html", context)


def custom_fields(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's custom fields: name, value, shown text and whether it is editable."""
    cls = resolve_class(doc["job_class"])
    specs = cls._custom_fields if cls is not None else {}
    out = []
    for name, encoded in sorted((doc.get("fields") or {}).items()):
        spec = specs.get(name)
        text = inline.field_text(encoded)
        out.append({"name": name, "text": text, "editable": bool(spec and spec.user_editable)})
    return out


#: The job page's label for completed_at, by state.
FINISHED_LABELS = {"completed": "Completed", "failed": "Failed at", "aborted": "Aborted at"}
#: Pages of jobs in these states do not refresh themselves (nothing changes any more).
FINAL_STATES = ("completed", "aborted")


def retry_facts(doc: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """Automatic retries of the job's class: the limit, the failures so far, the next
    retry time (a failed job re-queued for later) and whether a failed job will still be
    retried automatically (its worker re-queues it)."""
    cls = resolve_class(doc["job_class"])
    limit = int(getattr(cls, "retry_limit", 0) or 0)
    failures = int(doc.get("failure_count") or 0)
    return {
        "limit": limit, "failures": failures,
        "next_at": timing.next_retry_at(doc["state"], failures, doc["run_at"], now),
        "pending": doc["state"] == "failed" and failures <= limit and limit > 0,
    }  # fmt: skip


def time_limit(doc: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """A job's ``timeout`` (its own, else its class's) and, while it runs, the seconds left
    before JobTimeout: ``{"seconds": 30, "left": 12.5}`` (None when not known)."""
    own = (doc.get("fields") or {}).get("_timeout")
    cls = resolve_class(str(doc.get("job_class")))
    seconds = own if isinstance(own, int | float) else getattr(cls, "timeout", None)
    left = None
    started = doc.get("started_at")
    if seconds is not None and doc.get("state") == "running" and isinstance(started, dt.datetime):
        left = round(max(0.0, seconds - (now - started).total_seconds()), 1)
    return {"seconds": seconds, "left": left}


@require("view")
async def job_page(request: Request) -> Response:
    """GET /job/{id}: every field of one job."""
    data = request.app.state.data
    doc = await run_in_threadpool(data.job, request.path_params["job_id"])
    if doc is None:
        return render_error(request, 404, f"no job with id {request.path_params['job_id']!r}")
    fields = await run_in_threadpool(custom_fields, doc)
    now = data.now()
    batch = await run_in_threadpool(batch_facts, data.store, doc, now)
    run_at = doc["run_at"] if isinstance(doc["run_at"], dt.datetime) else None
    scheduled = doc["state"] == "queued" and run_at is not None and run_at > now
    key = "scheduled" if scheduled else doc["state"]
    user = current_user(request)
    context = {
        "job": doc, "fields": fields, "actions": ACTIONS_BY_STATE.get(key, ()),
        "can_act": user is not None and user.can("operator"),
        "can_destroy": user is not None and user.can("admin"),
        "live": doc["state"] not in FINAL_STATES, "scheduled": scheduled,
        "corruption": find_corruption(doc),
        "limit": time_limit(doc, data.now()),
        "times": timing.job_times(doc, now), "retries": retry_facts(doc, now),
        "finished_label": FINISHED_LABELS.get(doc["state"], "Finished"),
        "attempts": list(reversed(attempts.readable(doc.get("attempts")))),
        "batch": batch,
    }  # fmt: skip
    return render(request, "job.html", context)


NAV = [NavItem("Jobs", "/jobs/running")]


@require("view")
async def download(request: Request) -> Response:
    """GET /job/{id}/data/{part}: the whole arguments or result of one job, as JSON."""
    job_id, part = request.path_params["job_id"], request.path_params["part"]
    if part not in inline.PARTS:
        message = f"no such part {part!r}; expected one of {inline.PARTS}"
        return render_error(request, 404, message)
    doc = await run_in_threadpool(request.app.state.data.job, job_id)
    if doc is None:
        return render_error(request, 404, f"no job with id {job_id!r}")
    text = await run_in_threadpool(inline.full_text, doc[part])
    headers = {"Content-Disposition": f'attachment; filename="{job_id}-{part}.json"'}
    return Response(text, media_type="application/json", headers=headers)


ROUTES = [
    Route("/jobs/{view}", job_list),
    Route("/job/{job_id}", job_page),
    Route("/job/{job_id}/data/{part}", download),
]
