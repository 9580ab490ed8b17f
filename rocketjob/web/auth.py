"""Who is asking and what they may do: users, roles and how a request is authenticated.

Roles rank ``view`` < ``operator`` (job and server actions) < ``admin`` (destroy, bulk,
dirmon, cron). A request is authenticated, in order, by:

1. the ``proxy_auth_header`` (when configured), believed only when the TCP peer is one
   of ``trusted_proxies`` (any other peer sending it gets 403, audited): its value is the
   user name; the role is that of the ``[[web.users]]`` entry of that name, else
   ``proxy_default_role`` (by default none: 403);
2. HTTP Basic credentials of a ``[[web.users]]`` entry (for scrapers of ``/metrics``),
   throttled like the login form (:mod:`rocketjob.web.throttle`: 429 + Retry-After);
3. the server-side session named by the signed session cookie
   (:mod:`rocketjob.web.sessions`), opened by the login form (:mod:`rocketjob.web.login`).

With no users and no proxy header configured (only allowed on a loopback bind), every
request acts as the local ``admin``.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from rocketjob.config.web import ROLES, WebConfig, WebUser
from rocketjob.web import proxy
from rocketjob.web.passwords import verify_password
from rocketjob.web.paths import app_path, redirect
from rocketjob.web.sessions import Sessions
from rocketjob.web.throttle import LoginThrottle

Endpoint = Callable[[Request], Awaitable[Response]]
LOCAL_USER = "local"
#: An untrusted peer sending the proxy header is audited at most this often (seconds).
PROXY_AUDIT_SECONDS = 60.0


@dataclass(frozen=True)
class User:
    """An authenticated user and their role."""

    name: str
    role: str

    def can(self, role: str) -> bool:
        """True if this user's role is ``role`` or above."""
        return ROLES.index(self.role) >= ROLES.index(role)


class Denied(Exception):
    """The request is refused before any role check: ``status`` (403 or 429), a message
    for the user, and for 429 the seconds to wait."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


class Authenticator:
    """Turns a request into a :class:`User` (or None) according to ``[web]``; ``data``
    (:class:`rocketjob.web.data.MissionControlData`) holds sessions, failure counters and
    the audit log."""

    def __init__(self, config: WebConfig, data: Any) -> None:
        self.config = config
        self.data = data
        self.proxies = proxy.networks(config.trusted_proxies)
        self.sessions = Sessions(data.web_state, config, data.now)
        self.throttle = LoginThrottle(data.web_state, config.lockout_minutes, data.now, data.audit)
        self._verified: dict[tuple[str, str], bool] = {}
        self._attempts = threading.Lock()
        self._proxy_audited: dict[str, float] = {}

    def check_password(self, name: str, password: str) -> WebUser | None:
        """The user entry if ``password`` is right (verified results cached by digest)."""
        entry = self.config.user(name)
        if entry is None:
            verify_password(password, _DUMMY_HASH)  # same cost whether or not the user exists
            return None
        key = (name, hashlib.sha256(f"{entry.password_hash}\0{password}".encode()).hexdigest())
        if key not in self._verified:
            if len(self._verified) > 1000:
                self._verified.clear()
            self._verified[key] = verify_password(password, entry.password_hash)
        return entry if self._verified[key] else None

    def password_login(self, name: str, password: str, address: str, via: str) -> WebUser | None:
        """Check a password under the throttle: the user entry, None when wrong (counted),
        or Denied(429) while the name or the address must wait."""
        self._refuse_if_throttled(name, address)
        with self._attempts:  # one attempt at a time: parallel guesses cannot skip the count
            self._refuse_if_throttled(name, address)
            entry = self.check_password(name, password)
            if entry is None:
                self.throttle.failed(name, address, via)
                return None
        self.throttle.succeeded(name)
        return entry

    def _refuse_if_throttled(self, name: str, address: str) -> None:
        wait = self.throttle.retry_after(name, address)
        if wait is not None:
            raise Denied(429, f"too many failed logins: try again in {wait} s", wait)

    def authenticate(self, request: Request) -> User | None:
        """The user making ``request``, or None; raises Denied (see the module docstring)."""
        config = self.config
        if not config.auth_configured:
            return User(LOCAL_USER, "admin")
        if config.proxy_auth_header:
            name = request.headers.get(config.proxy_auth_header, "").strip()
            if name:
                return self._proxy_user(request, name)
        basic = _basic_credentials(request)
        if basic is not None:
            address = proxy.client_address(request, self.proxies)
            entry = self.password_login(*basic, address, "basic")
            return User(entry.name, entry.role) if entry else None
        entry = self.sessions.user(request.session.get("sid"))
        return User(entry.name, entry.role) if entry else None

    def _proxy_user(self, request: Request, name: str) -> User:
        header, peer = self.config.proxy_auth_header, proxy.peer_address(request)
        if not proxy.is_trusted(peer, self.proxies):
            self._audit_untrusted(peer, name)
            raise Denied(403, f"{header} is only accepted from web.trusted_proxies; "
                              f"{peer or 'this client'} is not one of them")  # fmt: skip
        entry = self.config.user(name)
        role = entry.role if entry else self.config.proxy_default_role
        if not role:
            raise Denied(403, f"user {name!r} is not in [[web.users]] and "
                              "web.proxy_default_role gives no access")  # fmt: skip
        return User(name, role)

    def _audit_untrusted(self, peer: str, name: str) -> None:
        now = time.monotonic()
        if now - self._proxy_audited.get(peer, -PROXY_AUDIT_SECONDS) < PROXY_AUDIT_SECONDS:
            return
        if len(self._proxy_audited) > 10_000:
            self._proxy_audited.clear()
        self._proxy_audited[peer] = now
        detail = f"{self.config.proxy_auth_header}: {name!r} from a peer not in trusted_proxies"
        self.data.audit("?", "proxy header refused", f"client {peer}", "refused", detail)


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


async def resolve_user(request: Request) -> User | None:
    """Authenticate ``request`` off the event loop (the store is read) and cache the user
    on it; raises Denied."""
    if "user" not in request.state._state:
        request.state.user = None  # a Denied request stays anonymous for its error page
        authenticator = request.app.state.auth
        request.state.user = await run_in_threadpool(authenticator.authenticate, request)
    user: User | None = request.state.user
    return user


def current_user(request: Request) -> User | None:
    """The user of ``request`` (cached on the request; None when it was denied)."""
    if "user" not in request.state._state:
        request.state.user = None
        with contextlib.suppress(Denied):  # a denied request renders as anonymous
            request.state.user = request.app.state.auth.authenticate(request)
    user: User | None = request.state.user
    return user


def render_error(request: Request, status: int, message: str) -> Response:
    """The application's error page, reached through ``app.state.render_error`` (set by
    create_app): rendering imports this module for the current user, so this module does
    not import the renderer (no import cycle)."""
    renderer: Callable[[Request, int, str], Response] = request.app.state.render_error
    return renderer(request, status, message)


def denied_response(request: Request, denied: Denied) -> Response:
    """The error page of a Denied request (with Retry-After on 429)."""
    response = render_error(request, denied.status, denied.message)
    if denied.retry_after is not None:
        response.headers["Retry-After"] = str(denied.retry_after)
    return response


def require(role: str) -> Callable[[Endpoint], Endpoint]:
    """Decorate an endpoint: unauthenticated requests go to the login page (401 for
    non-browser clients), users below ``role`` get 403, denied ones 403 or 429."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def wrapper(request: Request) -> Response:
            try:
                user = await resolve_user(request)
            except Denied as denied:
                return denied_response(request, denied)
            if user is None:
                return _unauthenticated(request)
            if not user.can(role):
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
