"""Sessions and failed-login counters in this process's memory: the fallback for a store
without the Mission Control methods (:class:`rocketjob.store.base.MissionControlStore`).

The same methods, with the same meaning, as the stores' ``web_sessions`` and
``web_login_failures`` tables; only one ``rocketjob web`` process sees them.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping, Sequence
from typing import Any


class MemoryWebState:
    """Server-side sessions and login failure counters, in memory (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, dict[str, Any]] = {}
        self._failures: dict[str, tuple[int, dt.datetime]] = {}

    def add_web_session(self, session: Mapping[str, Any]) -> None:
        """Store ``{id, user, fingerprint, created_at, last_seen}``."""
        with self._lock:
            self._sessions[session["id"]] = dict(session)

    def get_web_session(self, session_id: str) -> dict[str, Any] | None:
        """The session, or None."""
        with self._lock:
            found = self._sessions.get(session_id)
            return dict(found) if found else None

    def touch_web_session(self, session_id: str, last_seen: dt.datetime) -> None:
        """Record that the session was used at ``last_seen``."""
        with self._lock:
            if session_id in self._sessions:
                self._sessions[session_id]["last_seen"] = last_seen

    def delete_web_session(self, session_id: str) -> bool:
        """Revoke one session; False when there was none."""
        with self._lock:
            return self._sessions.pop(session_id, None) is not None

    def delete_web_sessions(self, user: str | None = None) -> int:
        """Revoke every session (of ``user`` when given); how many."""
        with self._lock:
            gone = [k for k, s in self._sessions.items() if user is None or s["user"] == user]
            for key in gone:
                del self._sessions[key]
            return len(gone)

    def expire_web_sessions(
        self, last_seen_before: dt.datetime, created_before: dt.datetime
    ) -> int:
        """Delete sessions idle since before ``last_seen_before`` or created before
        ``created_before``; how many."""
        with self._lock:
            gone = [
                key
                for key, found in self._sessions.items()
                if found["last_seen"] < last_seen_before or found["created_at"] < created_before
            ]
            for key in gone:
                del self._sessions[key]
            return len(gone)

    def add_login_failure(self, key: str, at: dt.datetime, forget_before: dt.datetime) -> int:
        """Count one failed login for ``key`` at ``at`` (starting again at 1 when the last
        one was before ``forget_before``); the new count."""
        with self._lock:
            count, last = self._failures.get(key, (0, at))
            count = 1 if count == 0 or last < forget_before else count + 1
            self._failures[key] = (count, at)
            return count

    def get_login_failures(self, keys: Sequence[str]) -> dict[str, tuple[int, dt.datetime]]:
        """``{key: (failures, last_failure_at)}`` for the keys that have failures."""
        with self._lock:
            return {k: self._failures[k] for k in keys if k in self._failures}

    def clear_login_failures(self, key: str) -> None:
        """Forget ``key``'s failures (after a successful login)."""
        with self._lock:
            self._failures.pop(key, None)
