"""Cron schedules: every known cron class, its schedule, next time and instance (view);
"run now" (admin), a CSRF-checked POST through ``job.run_now()``, audited."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rocketjob.errors import InvalidTransition
from rocketjob.web.auth import current_user, require
from rocketjob.web.cron import cron_rows, run_now
from rocketjob.web.paths import redirect
from rocketjob.web.render import flash, render
from rocketjob.web.routes import NavItem, form


@require("view")
async def cron_page(request: Request) -> Response:
    """GET /cron: the cron classes."""
    data = request.app.state.data

    def load() -> list[dict[str, Any]]:
        snapshot = data.snapshot()
        stored = [path for path, states in snapshot.by_class.items()
                  if any(states.get(s) for s in ("queued", "running", "paused"))]  # fmt: skip
        return cron_rows(stored, data.now())

    rows = await run_in_threadpool(load)
    user = current_user(request)
    context = {"rows": rows, "live": True, "can_admin": user is not None and user.can("admin")}
    return render(request, "cron.html", context)


@require("admin")
async def cron_run_now(request: Request) -> Response:
    """POST /cron/run_now: run the class's instance now (creating it if missing)."""
    data = await form(request)
    job_class = str(data.get("job_class", ""))
    state = request.app.state.data
    user = current_user(request)
    who = user.name if user else "?"
    try:
        job, created = await run_in_threadpool(run_now, job_class)
    except (LookupError, InvalidTransition) as exc:
        message = str(exc)
        await run_in_threadpool(state.audit, who, "cron run now", f"cron {job_class}",
                                "refused", message)  # fmt: skip
        flash(request, message, "error")
        return redirect(request, "/cron")
    detail = f"job {job.id} {'created and ' if created else ''}queued to run now"
    await run_in_threadpool(state.audit, who, "cron run now", f"job {job.id}", "ok",
                            f"{job_class}: {detail}")  # fmt: skip
    flash(request, f"run now: {job_class}: {detail}")
    return redirect(request, "/cron")


NAV = [NavItem("Cron", "/cron")]
ROUTES = [
    Route("/cron", cron_page),
    Route("/cron/run_now", cron_run_now, methods=["POST"]),
]
