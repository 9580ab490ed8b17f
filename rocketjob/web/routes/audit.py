"""The audit log: who did what to which job or server, when, and how it went."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rocketjob.web.auth import require
from rocketjob.web.render import render
from rocketjob.web.routes import NavItem

PAGE = 100


@require("view")
async def audit_page(request: Request) -> Response:
    """GET /audit: newest first, keyset-paginated."""
    after = request.query_params.get("after") or None
    if after is not None and not after.isdigit():
        after = None
    data = request.app.state.data
    entries = await run_in_threadpool(data.audit_entries, PAGE + 1, after)
    next_after = entries[PAGE - 1]["id"] if len(entries) > PAGE else None
    context = {"entries": entries[:PAGE], "next_after": next_after, "live": after is None}
    return render(request, "audit.html", context)


NAV = [NavItem("Audit log", "/audit")]
ROUTES = [Route("/audit", audit_page)]
