"""Logging in and out, and an admin's "sign out everywhere".

``POST /login`` checks the password under the login throttle
(:mod:`rocketjob.web.throttle`) and opens a server-side session
(:mod:`rocketjob.web.sessions`); ``POST /logout`` ends it; ``POST /sessions/end-all``
(admin) ends every session of every user. All three are CSRF-checked and audited.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rocketjob.web import proxy, routes
from rocketjob.web.auth import Denied, User, current_user, require, resolve_user
from rocketjob.web.paths import redirect
from rocketjob.web.render import flash, render


async def login_page(request: Request) -> Response:
    """GET /login: the form; POST /login: check the password and start a session."""
    auth = request.app.state.auth
    if not auth.config.users:
        return redirect(request, "/")
    with contextlib.suppress(Denied):  # the form is shown whatever the header says
        await resolve_user(request)
    if request.method != "POST":
        return render(request, "login.html", {"error": None})
    form = await routes.form(request, "login")
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    address = proxy.client_address(request, auth.proxies)
    try:
        entry = await run_in_threadpool(auth.password_login, name, password, address, "form")
    except Denied as denied:
        response = render(request, "login.html", {"error": denied.message}, status=429)
        response.headers["Retry-After"] = str(denied.retry_after)
        return response
    if entry is None:
        return render(request, "login.html", {"error": "wrong user name or password"}, status=401)
    session_id = await run_in_threadpool(auth.sessions.start, entry)
    request.session.clear()
    request.session["sid"] = session_id
    request.session["csrf"] = secrets.token_urlsafe(32)
    request.state.user = User(entry.name, entry.role)
    await run_in_threadpool(request.app.state.data.audit, entry.name, "login", entry.name)
    return redirect(request, _safe_next(request.query_params.get("next")))


async def logout(request: Request) -> Response:
    """POST /logout: end the session, here and in the store."""
    await routes.form(request, "logout")
    session_id = request.session.get("sid")
    user = current_user(request)
    if await run_in_threadpool(request.app.state.auth.sessions.end, session_id) and user:
        await run_in_threadpool(request.app.state.data.audit, user.name, "logout", user.name)
    request.session.clear()
    return redirect(request, "/login")


@require("admin")
async def end_all_sessions(request: Request) -> Response:
    """POST /sessions/end-all: sign out every user everywhere (this admin too)."""
    await routes.form(request, "sign out everywhere")
    ended = await run_in_threadpool(request.app.state.auth.sessions.end_all)
    user = current_user(request)
    data = request.app.state.data
    detail = f"{ended} session(s) ended"
    await run_in_threadpool(data.audit, user.name if user else "?", "sign out everywhere",
                            "all sessions", "ok", detail)  # fmt: skip
    request.session.clear()
    flash(request, f"signed out everywhere: {detail}")
    return redirect(request, "/login")


def _safe_next(target: Any) -> str:
    """Only app paths (the mount prefix is added on redirect), never another site
    (``//evil``, ``/\\evil`` or ``https://...``)."""
    if isinstance(target, str) and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


ROUTES = [
    Route("/login", login_page, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/sessions/end-all", end_all_sessions, methods=["POST"]),
]
