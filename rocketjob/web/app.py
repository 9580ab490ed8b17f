"""The Mission Control ASGI application."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import os
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from rocketjob import connection
from rocketjob.config import Config
from rocketjob.config.web import WebConfig
from rocketjob.log import logger
from rocketjob.web import auth, login
from rocketjob.web.data import MissionControlData
from rocketjob.web.metrics import now_utc
from rocketjob.web.paths import SessionsAtMountPoint
from rocketjob.web.render import make_environment, render_error
from rocketjob.web.routes import screens
from rocketjob.web.security import SecurityHeaders

STATIC = Path(__file__).parent / "static"


def secret_key(web: WebConfig) -> str:
    """The cookie-signing secret from the env var named by ``secret_key_env``; a random
    one (sessions end when the process stops) with a warning when it is unset."""
    value = os.environ.get(web.secret_key_env, "")
    if value:
        return value
    logger.warning(
        "web secret key not set: using a random one; sessions end on restart",
        env=web.secret_key_env,
    )
    return secrets.token_urlsafe(32)


def import_job_modules(config: Config) -> None:
    """Import ``[worker] imports`` so job pages know the classes' user_editable fields
    and callbacks; a module that fails is logged and skipped (pages still work)."""
    for name in config.worker.imports:
        try:
            importlib.import_module(name)
        except Exception as exc:  # boundary: the UI works without the class
            logger.warning("web: job module failed to import", module=name, error=repr(exc))


def create_app(
    config: Config | None = None, *, now: Callable[[], dt.datetime] = now_utc
) -> Starlette:
    """Mission Control for ``config``: connects its store (``[store] url``, else
    ROCKETJOB_STORE, else the default) and serves it as ``[web]`` (parsed at load) says."""
    config = config or Config()
    web = config.web
    store = connection.connect(config.store.url) if config.store.url else connection.current_store()
    import_job_modules(config)
    data = MissionControlData(
        store, counts_ttl=web.counts_ttl_seconds, zombie_seconds=config.worker.zombie_seconds,
        now=now,
    )  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        data.snapshot()  # the only count a page could wait for is taken before serving
        yield
        data.close()

    modules = screens()
    routes: list[Any] = [*login.ROUTES]
    for module in modules:
        routes.extend(module.ROUTES)
    routes.append(Mount("/static", StaticFiles(directory=STATIC), name="static"))
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(
            SessionsAtMountPoint,
            secret_key=secret_key(web),
            session_cookie="rocketjob_session",
            max_age=int(web.session_lifetime_hours * 3600),
            same_site="strict",
            https_only=web.secure_cookies,
        ),
    ]
    app = Starlette(
        routes=routes, middleware=middleware, lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},
    )  # fmt: skip
    app.state.config = config
    app.state.auth = auth.Authenticator(web, data)
    app.state.data = data
    app.state.templates = make_environment()
    app.state.render_error = render_error
    app.state.nav = [item for module in modules for item in getattr(module, "NAV", [])]
    app.state.refresh_seconds = web.refresh_seconds
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return render_error(request, exc.status_code, str(exc.detail))
