"""CSRF protection: one random token per session, required in every POSTed form.

The token lives in the signed session cookie and is rendered into each form as the
hidden ``csrf_token`` field; a POST whose field does not match is refused with 403.
Session cookies are also ``SameSite=Strict``.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

FIELD = "csrf_token"


def csrf_token(request: Request) -> str:
    """This session's token, created on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, form: Any) -> None:
    """Raise 403 unless the form's token matches the session's."""
    sent = form.get(FIELD)
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not isinstance(expected, str):
        raise HTTPException(403, "CSRF token missing: reload the page and try again")
    if not hmac.compare_digest(sent, expected):
        raise HTTPException(403, "CSRF token wrong: reload the page and try again")
