"""Mission Control's screens, one module per concern.

Each screen module has ``ROUTES`` (Starlette routes) and may have ``NAV`` (menu items).
A new screen is one more module in :func:`screens`; its endpoints use
:func:`rocketjob.web.auth.require` for roles and :func:`form` for CSRF-checked forms.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request

from rocketjob.web.auth import current_user
from rocketjob.web.csrf import check_csrf
from rocketjob.web.paths import app_path


@dataclass(frozen=True)
class NavItem:
    """A menu entry shown to users with at least ``role``."""

    label: str
    path: str
    role: str = "view"


async def form(request: Request, action: str | None = None) -> FormData:
    """The POSTed form, after checking its CSRF token: a request without the right token
    gets 403 and is written to the audit log as refused, like every other action
    (``action`` names it in the log; by default the form's action or command field)."""
    data = await request.form()
    try:
        check_csrf(request, data)
    except HTTPException as exc:
        user = current_user(request)
        action = action or str(data.get("action") or data.get("command") or "post")[:100]
        job_id = request.path_params.get("job_id")
        target = f"job {job_id}" if job_id else app_path(request.scope)
        await run_in_threadpool(
            request.app.state.data.audit, user.name if user else "?", action, target,
            "refused", str(exc.detail),
        )  # fmt: skip
        raise
    return data


def screens() -> list[ModuleType]:
    """Every screen module, in menu order."""
    names = ("dashboard", "jobs", "actions", "servers", "dirmon", "cron", "audit", "metrics")
    return [importlib.import_module(f"rocketjob.web.routes.{name}") for name in names]
