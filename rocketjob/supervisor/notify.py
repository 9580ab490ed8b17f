"""sd_notify, written straight to ``$NOTIFY_SOCKET`` (no libsystemd needed).

Each message opens a unix datagram socket, sends, and closes it again, so the supervisor
holds no socket when it forks. ``@name`` addresses the abstract namespace. The watchdog
(``WatchdogSec=`` in the unit) is fed at half of ``WATCHDOG_USEC`` by the main loop.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

from rocketjob.log import logger

_CHILD_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class Notifier:
    """Sends state changes to systemd; does nothing when not run by systemd."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = _address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_interval = _watchdog_interval(env)
        self._next_watchdog = 0.0
        self.failures = 0
        self._last_status = ""

    @property
    def enabled(self) -> bool:
        """True when ``NOTIFY_SOCKET`` is set."""
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """Send one datagram of ``KEY=value`` lines; True if it was sent."""
        if self.address is None:
            return False
        payload = "\n".join(lines).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.settimeout(1.0)
                sock.sendto(payload, self.address)
            return True
        except OSError as exc:
            self.failures += 1
            logger.warning("sd_notify failed", error=str(exc), failures=self.failures)
            return False

    def ready(self, status: str) -> None:
        """READY=1 with a STATUS line."""
        self._last_status = status
        self.send("READY=1", f"STATUS={status}")

    def reloading(self) -> None:
        """RELOADING=1 (with MONOTONIC_USEC, as Type=notify-reload expects)."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=reloading")

    def stopping(self, status: str) -> None:
        """STOPPING=1 with a STATUS line."""
        self._last_status = status
        self.send("STOPPING=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        """A STATUS line, only when it changed."""
        if status != self._last_status:
            self._last_status = status
            self.send(f"STATUS={status}")

    def watchdog_due_in(self, now: float) -> float | None:
        """Seconds until the watchdog must be fed (None when there is no watchdog)."""
        if self.watchdog_interval is None or self.address is None:
            return None
        return max(0.0, self._next_watchdog - now)

    def feed_watchdog(self, now: float) -> None:
        """Send WATCHDOG=1 when due (call from the main loop with ``time.monotonic()``)."""
        if self.watchdog_interval is None or self.address is None or now < self._next_watchdog:
            return
        self._next_watchdog = now + self.watchdog_interval
        self.send("WATCHDOG=1")


def _address(value: str) -> str | None:
    if not value:
        return None
    if value.startswith("@"):
        return "\0" + value[1:]
    return value


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Half of WATCHDOG_USEC, when the watchdog is meant for this process."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) <= 0:
        return None
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 2 / 1_000_000


def clean_child_environment() -> None:
    """In a forked worker: forget systemd's notify variables (only the main process talks
    to systemd; NotifyAccess=main)."""
    for name in _CHILD_ENV:
        os.environ.pop(name, None)
