"""Login throttling, per user name and per client address, shared through the store.

Each failed password (login form or HTTP Basic) counts one failure against the name tried
and one against the client address (``web_login_failures``). After
:data:`DELAY_AFTER` failures the next attempt is refused until ``2 ** (n - 5)`` seconds
(at most :data:`MAX_DELAY`) after the last failure; after :data:`LOCKOUT_AFTER` failures
every attempt is refused for ``[web] lockout_minutes``, the right password included. A
refused attempt is answered 429 with ``Retry-After`` and is not checked, so it reveals
nothing. Names that do not exist are counted exactly like names that do, so the answers
never tell whether a user exists. A successful login clears its name's counter; an
address's counter is forgotten once it has been quiet for the lockout time. Reaching the
delay and reaching the lockout are written to the audit log.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

DELAY_AFTER = 5
LOCKOUT_AFTER = 20
MAX_DELAY = 300.0

Audit = Callable[..., None]


def keys(name: str, address: str) -> list[str]:
    """The counters a login attempt is checked and counted against."""
    return [f"user:{name}", f"addr:{address}"]


class LoginThrottle:
    """Decides whether a login attempt may be checked, and counts failures."""

    def __init__(
        self, state: Any, lockout_minutes: float, now: Callable[[], dt.datetime], audit: Audit
    ) -> None:
        self.state = state
        self.lockout = dt.timedelta(minutes=lockout_minutes)
        self.forget = max(self.lockout, dt.timedelta(seconds=2 * MAX_DELAY))
        self.now = now
        self.audit = audit

    def retry_after(self, name: str, address: str) -> int | None:
        """Seconds to wait before this attempt may be checked, or None to check it now."""
        now = self.now()
        wait = 0.0
        for failures, last in self.state.get_login_failures(keys(name, address)).values():
            if now - last > self.forget:
                continue
            until = last + self.hold(failures)
            wait = max(wait, (until - now).total_seconds())
        return math.ceil(wait) if wait > 0 else None

    def hold(self, failures: int) -> dt.timedelta:
        """How long after the last of ``failures`` the next attempt must wait."""
        if failures >= LOCKOUT_AFTER:
            return self.lockout
        if failures >= DELAY_AFTER:
            return dt.timedelta(seconds=min(2.0 ** (failures - DELAY_AFTER), MAX_DELAY))
        return dt.timedelta(0)

    def failed(self, name: str, address: str, via: str) -> None:
        """Count a wrong password; audit reaching the delay and the lockout."""
        now = self.now()
        for key in keys(name, address):
            count = self.state.add_login_failure(key, now, now - self.forget)
            if count in (DELAY_AFTER, LOCKOUT_AFTER):
                action = "login locked out" if count == LOCKOUT_AFTER else "login throttled"
                hold = int(self.hold(count).total_seconds())
                detail = f"{count} failed {via} logins; next attempt refused for {hold}s"
                self.audit(name or "?", action, key, "refused", detail)

    def succeeded(self, name: str) -> None:
        """Clear the name's counter after a right password (a read, and a write only when
        there is something to clear: Basic auth succeeds on every scrape)."""
        key = f"user:{name}"
        if self.state.get_login_failures([key]):
            self.state.clear_login_failures(key)
