"""Rendering pages: the Jinja2 environment (autoescape on), shared context and flash
messages. Every piece of job data reaches HTML through autoescaping."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from rocketjob import codec, timing
from rocketjob.web.auth import current_user
from rocketjob.web.csrf import FIELD, csrf_token
from rocketjob.web.inline import inline_text, too_large
from rocketjob.web.paths import app_path, root_path

TEMPLATES = Path(__file__).parent / "templates"


def make_environment() -> jinja2.Environment:
    """The template environment, escaping every value by default."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(ts=format_time, ago=format_age, pretty=pretty_json, number=format_number,
                       inline=inline_text, too_large=too_large, when=when,
                       seconds=timing.human_seconds)  # fmt: skip
    return env


@jinja2.pass_context
def when(context: Any, value: dt.datetime | None, both: bool = False) -> Markup:
    """A time as people read it, relative to the page's ``now`` ("3 min ago", "in 2 h"),
    with the absolute UTC time on hover; ``both=True`` shows the absolute time with the
    relative one beside it (the job page)."""
    if value is None:
        return Markup("")
    if not isinstance(value, dt.datetime):  # a corrupt row's undecodable time
        return Markup("{}").format(format_time(value))
    absolute, relative = format_time(value), timing.relative(value, context["now"])
    iso = value.astimezone(dt.UTC).isoformat()
    if both:
        return Markup('<time datetime="{}">{}</time> <small class="rel">({})</small>').format(
            iso, absolute, relative
        )
    return Markup('<time datetime="{}" title="{}">{}</time>').format(iso, absolute, relative)


def format_time(value: dt.datetime | None) -> str:
    """``2024-05-01 12:00:03 UTC`` (empty for None)."""
    if value is None:
        return ""
    if not isinstance(value, dt.datetime):  # a corrupt row's undecodable time
        return "(cannot be decoded)"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_age(seconds: float | None) -> str:
    """A short duration: ``4s``, ``3m 2s``, ``2h 5m``, ``3d 1h``."""
    if seconds is None:
        return ""
    s = int(abs(seconds))
    for size, unit, sub, subunit in ((86400, "d", 3600, "h"), (3600, "h", 60, "m"),
                                     (60, "m", 1, "s")):  # fmt: skip
        if s >= size:
            return f"{s // size}{unit} {(s % size) // sub}{subunit}"
    return f"{s}s"


def format_number(value: int) -> str:
    """``1,234,567``."""
    return f"{value:,}"


def pretty_json(value: Any) -> str:
    """Encoded job data (arguments, result, fields) as indented JSON text."""
    return json.dumps(codec.decode(value), indent=2, sort_keys=True, default=str)


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """Show ``message`` on the next page rendered for this session."""
    messages = list(request.session.get("flash", []))[-9:]
    messages.append([kind, message])
    request.session["flash"] = messages


def render(
    request: Request, template: str, context: dict[str, Any], *, status: int = 200
) -> Response:
    """Render ``template`` with the shared context (user, csrf, nav, flash)."""
    app_state = request.app.state
    user = current_user(request)
    shared = {
        "request": request,
        "user": user,
        "auth_configured": app_state.auth.config.auth_configured,
        "csrf_field": FIELD,
        "csrf": csrf_token(request),
        "nav": [item for item in app_state.nav if user is not None and user.can(item.role)],
        "flashes": request.session.pop("flash", []),
        "refresh": app_state.refresh_seconds,
        "path": app_path(request.scope),
        "root": root_path(request.scope),
        "now": app_state.data.now(),
    }
    html = app_state.templates.get_template(template).render({**shared, **context})
    return HTMLResponse(html, status_code=status)


def render_error(request: Request, status: int, message: str) -> Response:
    """An error page (plain text for non-browser clients)."""
    if "text/html" not in request.headers.get("accept", ""):
        return Response(message + "\n", status_code=status, media_type="text/plain")
    return render(request, "error.html", {"status": status, "message": message}, status=status)
