"""Who is asking and what they may do: users, roles, login and logout.

Roles rank ``view`` < ``operator`` (job and server actions) < ``admin`` (destroy, bulk,
dirmon, cron). A request is authenticated, in order, by:

1. the trusted ``proxy_auth_header`` (when configured): its value is the user name; the
   role is that of the ``[[web.users]]`` entry of that name, else ``proxy_default_role``;
2. HTTP Basic credentials of a ``[[web.users]]`` entry (for scrapers of ``/metrics``);
3. the signed session cookie set by the login form.

With no users and no proxy header configured (only allowed on a loopback bind), every
request acts as the local ``admin``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from rocketjob.web.config import ROLES, WebConfig
from rocketjob.web.passwords import verify_password
from rocketjob.web.paths import app_path, redirect

Endpoint = Callable[[Request], Awaitable[Response]]
LOCAL_USER = "local"


@dataclass(frozen=True)
class User:
    """An authenticated user and their role."""

    name: str
    role: str

    def can(self, role: str) -> bool:
        """True if this user's role is ``role`` or above."""
        return ROLES.index(self.role) >= ROLES.index(role)


class Authenticator:
    """Turns a request into a :class:`User` (or None) according to ``[web]``."""

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self._verified: dict[tuple[str, str], bool] = {}

    def check_password(self, name: str, password: str) -> User | None:
        """The user if ``password`` is right (verified results cached by digest)."""
        entry = self.config.user(name)
        if entry is None:
            verify_password(password, _DUMMY_HASH)  # same cost whether or not the user exists
            return None
        key = (name, hashlib.sha256(f"{entry.password_hash}\0{password}".encode()).hexdigest())
        if key not in self._verified:
            if len(self._verified) > 1000:
                self._verified.clear()
            self._verified[key] = verify_password(password, entry.password_hash)
        return User(entry.name, entry.role) if self._verified[key] else None

    def authenticate(self, request: Request) -> User | None:
        """The user making ``request``, or None."""
        config = self.config
        if not config.auth_configured:
            return User(LOCAL_USER, "admin")
        if config.proxy_auth_header:
            name = request.headers.get(config.proxy_auth_header, "").strip()
            if name:
                entry = config.user(name)
                return User(name, entry.role if entry else config.proxy_default_role)
        basic = _basic_credentials(request)
        if basic is not None:
            return self.check_password(*basic)
        session_user = request.session.get("user")
        entry = config.user(session_user) if isinstance(session_user, str) else None
        return User(entry.name, entry.role) if entry else None


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        name, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return name, password


_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def current_user(request: Request) -> User | None:
    """The user of ``request`` (cached on the request)."""
    if "user" not in request.state._state:
        request.state.user = request.app.state.auth.authenticate(request)
    user: User | None = request.state.user
    return user


def require(role: str) -> Callable[[Endpoint], Endpoint]:
    """Decorate an endpoint: unauthenticated requests go to the login page (401 for
    non-browser clients), users below ``role`` get 403."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def wrapper(request: Request) -> Response:
            user = current_user(request)
            if user is None:
                return _unauthenticated(request)
            if not user.can(role):
                from rocketjob.web.render import render_error

                message = f"your role {user.role!r} cannot do this: it needs {role!r}"
                return render_error(request, 403, message)
            return await endpoint(request)

        return wrapper

    return decorate


def _unauthenticated(request: Request) -> Response:
    accepts_html = "text/html" in request.headers.get("accept", "")
    if request.method == "GET" and accepts_html:
        return redirect(request, "/login?" + urlencode({"next": app_path(request.scope)}))
    return PlainTextResponse(
        "authentication required", status_code=401, headers={"WWW-Authenticate": "Basic"}
    )


async def login_page(request: Request) -> Response:
    """GET /login: the form; POST /login: check the password and start a session."""
    from rocketjob.web.csrf import check_csrf
    from rocketjob.web.render import render

    if not request.app.state.auth.config.users:
        return redirect(request, "/")
    error = None
    if request.method == "POST":
        form = await request.form()
        check_csrf(request, form)
        name, password = str(form.get("name", "")), str(form.get("password", ""))
        user = request.app.state.auth.check_password(name, password)
        if user is not None:
            request.session.clear()
            request.session["user"] = user.name
            request.session["csrf"] = secrets.token_urlsafe(32)
            await run_in_threadpool(request.app.state.data.audit, user.name, "login", user.name)
            return redirect(request, _safe_next(request.query_params.get("next")))
        error = "wrong user name or password"
    return render(request, "login.html", {"error": error}, status=401 if error else 200)


async def logout(request: Request) -> Response:
    """POST /logout: end the session."""
    from rocketjob.web.csrf import check_csrf

    check_csrf(request, await request.form())
    request.session.clear()
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
]
