"""Paths under the mount point: Mission Control works at ``/`` and mounted under any
prefix of another ASGI application (``app.mount("/ops/jobs", create_app(...))``).

The ASGI server or the host application's router puts the prefix in
``scope["root_path"]`` and leaves the full path in ``scope["path"]``. Screens and routes
speak *app paths* (``/job/42``); every URL sent to the browser (links, form actions,
redirects, static files) and the session cookie's path get the prefix added here, so
nothing points outside the mount.
"""

from __future__ import annotations

from typing import Any

from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send


def root_path(scope: Scope) -> str:
    """The mount prefix without a trailing slash (``""`` at the top level)."""
    return str(scope.get("root_path", "")).rstrip("/")


def app_path(scope: Scope) -> str:
    """The request's path inside the app (``/job/42``), with the mount prefix removed."""
    path, root = str(scope.get("path", "")), root_path(scope)
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root) :]
    return path or "/"


def url(connection: HTTPConnection, path: str) -> str:
    """The browser URL of app path ``path`` (``/ops/jobs/job/42`` when mounted)."""
    return root_path(connection.scope) + path


def redirect(connection: HTTPConnection, path: str) -> RedirectResponse:
    """A 303 "see other" to app path ``path``, under the mount prefix."""
    return RedirectResponse(url(connection, path), status_code=303)


def cookie_path(scope: Scope) -> str:
    """The session cookie's path: the mount prefix, so the cookie is sent to this app
    only (and a second Mission Control mounted elsewhere keeps its own session)."""
    return root_path(scope) or "/"


class SessionsAtMountPoint:
    """ASGI middleware: Starlette's signed-cookie sessions with the cookie path set to
    the mount prefix of each request (one ``SessionMiddleware`` per prefix seen; an app is
    normally reached under one prefix only, so this holds one or two)."""

    def __init__(self, app: ASGIApp, /, **options: Any) -> None:
        self.app = app
        self.options = options
        self._by_path: dict[str, SessionMiddleware] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = cookie_path(scope)
        sessions = self._by_path.get(path)
        if sessions is None:
            if len(self._by_path) >= 16:  # bounded, whatever the server puts in root_path
                self._by_path.clear()
            sessions = SessionMiddleware(self.app, path=path, **self.options)
            self._by_path[path] = sessions
        await sessions(scope, receive, send)
