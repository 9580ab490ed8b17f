"""Dirmon entries: list (view); create, edit, enable, disable and remove (admin).

Every change is a CSRF-checked POST written to the audit log, refused or not. A form
that does not validate is shown again with the values typed and the reason.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rocketjob.errors import ValidationError
from rocketjob.plugins.dirmon_entries import DirmonEntry
from rocketjob.web.auth import current_user, require
from rocketjob.web.dirmon import (
    ENTRY_ACTIONS,
    EntryForm,
    act_on_entry,
    create_entry,
    find_entry,
    update_entry,
)
from rocketjob.web.paths import redirect
from rocketjob.web.render import flash, render, render_error
from rocketjob.web.routes import NavItem, form


def _who(request: Request) -> str:
    user = current_user(request)
    return user.name if user else "?"


def _roots(request: Request) -> tuple[str, ...]:
    roots: tuple[str, ...] = request.app.state.config.dirmon.roots
    return roots


async def _audit(request: Request, action: str, name: str, outcome: str, detail: str) -> None:
    data = request.app.state.data
    await run_in_threadpool(data.audit, _who(request), action, f"dirmon {name}", outcome, detail)


@require("view")
async def dirmon_page(request: Request) -> Response:
    """GET /dirmon: every entry."""
    entries = await run_in_threadpool(DirmonEntry.all)
    user = current_user(request)
    context = {
        "entries": entries, "roots": _roots(request), "live": True,
        "can_admin": user is not None and user.can("admin"),
    }  # fmt: skip
    return render(request, "dirmon.html", context)


def _form_page(
    request: Request, entry_form: EntryForm, *, editing: bool, error: str | None = None
) -> Response:
    context = {"form": entry_form, "editing": editing, "error": error, "roots": _roots(request)}
    return render(request, "dirmon_form.html", context, status=400 if error else 200)


@require("admin")
async def new_entry(request: Request) -> Response:
    """GET /dirmon/new: the empty form; POST: create the entry."""
    if request.method == "GET":
        return _form_page(request, EntryForm(), editing=False)
    entry_form = EntryForm.from_form(await form(request))
    try:
        entry, warning = await run_in_threadpool(create_entry, entry_form, _roots(request))
    except ValidationError as exc:
        await _audit(request, "dirmon create", entry_form.name, "refused", str(exc))
        return _form_page(request, entry_form, editing=False, error=str(exc))
    detail = f"{entry['pattern']} -> {entry['job_class']}"
    await _audit(request, "dirmon create", entry["name"], "ok", detail)
    flash(request, f"dirmon entry {entry['name']!r} created")
    if warning:
        flash(request, warning, "error")
    return redirect(request, "/dirmon")


@require("admin")
async def edit_entry(request: Request) -> Response:
    """GET /dirmon/edit?name=...: the entry's form; POST (name in the form): save it."""
    if request.method == "GET":
        name = request.query_params.get("name", "")
        entry = await run_in_threadpool(find_entry, name)
        if entry is None:
            return render_error(request, 404, f"no dirmon entry named {name!r}")
        return _form_page(request, EntryForm.from_entry(entry), editing=True)
    data = await form(request)
    name = str(data.get("name", ""))
    entry_form = EntryForm.from_form(data, name=name)
    try:
        saved = await run_in_threadpool(update_entry, name, entry_form, _roots(request))
    except ValidationError as exc:
        await _audit(request, "dirmon edit", name, "refused", str(exc))
        return _form_page(request, entry_form, editing=True, error=str(exc))
    if saved is None:
        await _audit(request, "dirmon edit", name, "refused", "no such entry")
        flash(request, f"no dirmon entry named {name!r}: it was removed", "error")
        return redirect(request, "/dirmon")
    entry, warning = saved
    detail = f"{entry['pattern']} -> {entry['job_class']}, enabled={entry['enabled']}"
    await _audit(request, "dirmon edit", name, "ok", detail)
    flash(request, f"dirmon entry {name!r} saved")
    if warning:
        flash(request, warning, "error")
    return redirect(request, "/dirmon")


@require("admin")
async def entry_action(request: Request) -> Response:
    """POST /dirmon/action: enable, disable or remove one entry."""
    data = await form(request)
    name, action = str(data.get("name", "")), str(data.get("action", ""))
    if action not in ENTRY_ACTIONS:
        return render_error(request, 400, f"unknown dirmon action {action!r}")
    done = await run_in_threadpool(act_on_entry, name, action)
    if not done:
        await _audit(request, f"dirmon {action}", name, "refused", "no such entry")
        flash(request, f"no dirmon entry named {name!r}", "error")
    else:
        await _audit(request, f"dirmon {action}", name, "ok", ENTRY_ACTIONS[action])
        flash(request, f"dirmon entry {name!r} {ENTRY_ACTIONS[action]}")
    return redirect(request, "/dirmon")


NAV = [NavItem("Dirmon", "/dirmon")]
ROUTES = [
    Route("/dirmon", dirmon_page),
    Route("/dirmon/new", new_entry, methods=["GET", "POST"]),
    Route("/dirmon/edit", edit_entry, methods=["GET", "POST"]),
    Route("/dirmon/action", entry_action, methods=["POST"]),
]
