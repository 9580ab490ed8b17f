"""Mission Control's screens, one module per concern.

Each screen module has ``ROUTES`` (Starlette routes) and may have ``NAV`` (menu items).
A new screen is one more module in :func:`screens`; its endpoints use
:func:`rocketjob.web.auth.require` for roles and :func:`form` for CSRF-checked forms.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from starlette.datastructures import FormData
from starlette.requests import Request

from rocketjob.web.csrf import check_csrf


@dataclass(frozen=True)
class NavItem:
    """A menu entry shown to users with at least ``role``."""

    label: str
    path: str
    role: str = "view"


async def form(request: Request) -> FormData:
    """The POSTed form, after checking its CSRF token (403 otherwise)."""
    data = await request.form()
    check_csrf(request, data)
    return data


def screens() -> list[ModuleType]:
    """Every screen module, in menu order."""
    names = ("dashboard", "jobs", "actions", "servers", "dirmon", "cron", "audit", "metrics")
    return [importlib.import_module(f"rocketjob.web.routes.{name}") for name in names]
