"""Mission Control: the web UI to watch and manage jobs and servers.

``create_app(config)`` returns the ASGI application (Starlette, server-rendered Jinja2
pages, a little of our own JavaScript for live refresh) to serve with uvicorn
(``rocketjob web -c FILE``) or to mount in an existing application. Importing this
package is cheap: Starlette is imported only when an app is created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rocketjob.config import Config


def create_app(config: Config | None = None, **options: Any) -> Any:
    """The Mission Control ASGI app for ``config`` (defaults when None).

    ``options`` are passed to :func:`rocketjob.web.app.create_app` (for tests: ``clock``).
    """
    from rocketjob.web.app import create_app as _create_app

    return _create_app(config, **options)


__all__ = ["create_app"]
