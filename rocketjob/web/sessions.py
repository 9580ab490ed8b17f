"""Server-side sessions: logging out, a password change and "sign out everywhere" end them.

The session cookie (signed, ``SameSite=Strict``) carries a random id
(``secrets.token_urlsafe(32)``), never the user: the id is looked up in the store
(``web_sessions``: user, password fingerprint, created_at, last_seen) on every request,
so a cookie captured before logout is worthless afterwards. A session ends when:

* the user logs out (that one session), or an admin signs everyone out (all of them);
* it was not used for ``[web] session_idle_minutes`` (default 30);
* it is older than ``[web] session_lifetime_hours`` (default 12);
* the user's ``password_hash`` in ``[[web.users]]`` changed (each session keeps a
  fingerprint of the hash it was opened with), or the user was removed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from typing import Any

from rocketjob.config.web import WebConfig, WebUser

#: ``last_seen`` is written at most this often per session (a write per page is waste).
TOUCH_SECONDS = 30.0


def fingerprint(password_hash: str) -> str:
    """A short digest of a user's password hash: a changed hash ends their sessions."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


class Sessions:
    """Open, check and end server-side sessions kept in ``state`` (the store, or
    :class:`rocketjob.web.memory_state.MemoryWebState`)."""

    def __init__(self, state: Any, config: WebConfig, now: Callable[[], dt.datetime]) -> None:
        self.state = state
        self.config = config
        self.now = now
        self.idle = dt.timedelta(minutes=config.session_idle_minutes)
        self.lifetime = dt.timedelta(hours=config.session_lifetime_hours)

    def start(self, user: WebUser) -> str:
        """A new session for ``user``; its id (for the cookie). Expired sessions of
        everyone are deleted on the way."""
        now = self.now()
        self.state.expire_web_sessions(now - self.idle, now - self.lifetime)
        session_id = secrets.token_urlsafe(32)
        self.state.add_web_session({
            "id": session_id, "user": user.name, "fingerprint": fingerprint(user.password_hash),
            "created_at": now, "last_seen": now,
        })  # fmt: skip
        return session_id

    def user(self, session_id: Any) -> WebUser | None:
        """The configured user of a live session, or None (an ended session is deleted)."""
        if not isinstance(session_id, str) or not session_id:
            return None
        found = self.state.get_web_session(session_id)
        if found is None:
            return None
        entry = self.config.user(found["user"])
        now = self.now()
        if (
            entry is None
            or found["fingerprint"] != fingerprint(entry.password_hash)
            or now - found["last_seen"] >= self.idle
            or now - found["created_at"] >= self.lifetime
        ):
            self.state.delete_web_session(session_id)
            return None
        if (now - found["last_seen"]).total_seconds() >= TOUCH_SECONDS:
            self.state.touch_web_session(session_id, now)
        return entry

    def end(self, session_id: Any) -> bool:
        """End one session (logout); False when it had already ended."""
        return isinstance(session_id, str) and bool(self.state.delete_web_session(session_id))

    def end_all(self) -> int:
        """End every session of every user ("sign out everywhere"); how many."""
        return int(self.state.delete_web_sessions())
