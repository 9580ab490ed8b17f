"""Real ``rocketjob -c`` processes for the integration tests.

Each daemon runs in its own process group with its output in a file; the ``daemons``
fixture kills every group that is still alive when a test ends. The store is a temporary
SQLite file unless ``ROCKETJOB_TEST_STORE_URL`` names another (PostgreSQL, MongoDB).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psutil

from tests.conftest import REPO
from tests.support import wait_until

ROCKETJOB = [sys.executable, "-m", "rocketjob"]
JOBS = "tests.integration.jobs"


def store_url(tmp_path: Path) -> str:
    """The store the test daemons share: ROCKETJOB_TEST_STORE_URL or a fresh SQLite file."""
    return os.environ.get("ROCKETJOB_TEST_STORE_URL") or f"sqlite:///{tmp_path / 'jobs.db'}"


def _toml(value: Any) -> str:
    return json.dumps(value)  # strings, numbers, booleans and lists of strings


#: The worker settings every test config starts from (a test's own keys win): small
#: heartbeat and zombie settings for quick tests. The end-to-end tests on shared servers
#: raise ``zombie_seconds`` where a slow store could make a live server look dead.
WORKER_DEFAULTS: dict[str, Any] = {
    "threads": 2, "imports": [JOBS], "heartbeat_seconds": 0.5, "zombie_seconds": 2,
    "max_poll_seconds": 0.5,
}  # fmt: skip


def write_config(
    path: Path,
    url: str,
    supervisor: Mapping[str, Any] | None = None,
    worker: Mapping[str, Any] | None = None,
    extra: str = "",
) -> Path:
    """A daemon config with small heartbeat and zombie settings for quick tests."""
    sections = {
        "store": {"url": url},
        "supervisor": {"processes": 1, "drain_timeout": 5, **(supervisor or {})},
        "worker": {**WORKER_DEFAULTS, **(worker or {})},
        "logging": {"close_timeout": 1},
    }  # fmt: skip
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


class Daemon:
    """A real ``rocketjob -c FILE`` supervisor in its own process group."""

    def __init__(self, config: Path, env: Mapping[str, str] | None = None) -> None:
        self.log_path = config.with_suffix(f".{time.monotonic_ns()}.log")
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [*ROCKETJOB, "-c", str(config)], cwd=REPO, start_new_session=True,
            stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )  # fmt: skip
        self.pid = self.proc.pid

    def log(self) -> str:
        """Everything the daemon wrote so far."""
        return self.log_path.read_text(errors="replace")

    def wait_log(self, text: str, timeout: float = 10.0, after: int = 0) -> int:
        """Wait until ``text`` appears in the output past offset ``after``; its offset."""
        return int(wait_until(lambda: self.log().find(text, after) + 1, timeout)) - 1

    def signal(self, signum: int) -> None:
        """Send a signal to the supervisor."""
        os.kill(self.pid, signum)

    def workers(self) -> list[int]:
        """Pids of the worker processes (the supervisor's children), sorted."""
        try:
            return sorted(child.pid for child in psutil.Process(self.pid).children())
        except psutil.NoSuchProcess:
            return []

    def wait_workers(self, count: int, timeout: float = 15.0) -> list[int]:
        """Wait until ``count`` workers are registered as servers; their pids."""
        from rocketjob import Server

        def ready() -> list[int] | None:
            mine = set(self.workers())
            pids = sorted(s.pid for s in Server.all() if s.pid in mine)
            return pids if len(pids) == count and len(mine) == count else None

        return list(wait_until(ready, timeout))

    def wait(self, timeout: float = 20.0) -> int:
        """Wait for the supervisor to exit; its exit code."""
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 20.0) -> int:
        """TERM the supervisor and wait for it."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill_group(self) -> None:
        """SIGKILL the whole process group (cleanup)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        try:
            self.proc.wait(10)
        finally:
            self._log.close()


def lines(path: Path) -> list[str]:
    """The lines a job file holds so far."""
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def started(path: Path, tag: str) -> int | None:
    """The pid that started job ``tag`` most recently, per its ``start`` line."""
    pids = [int(line.split()[2]) for line in lines(path) if line.startswith(f"start {tag} ")]
    return pids[-1] if pids else None


def done(path: Path, tag: str) -> bool:
    """True once job ``tag`` wrote its ``done`` line."""
    return any(line.startswith(f"done {tag} ") for line in lines(path))


def seconds_since(start: float) -> float:
    """Seconds elapsed since the monotonic time ``start``."""
    return time.monotonic() - start


def heartbeats_after(moment: Any, count: int = 2) -> Callable[[], bool]:
    """A condition: every server heartbeat is later than ``moment`` (a datetime) by at
    least ``count`` heartbeats of 0.5 s, so each has run its loop since then."""
    import datetime as dt

    from rocketjob import Server

    def check() -> bool:
        servers = Server.all()
        later = moment + dt.timedelta(seconds=0.5 * count)
        return bool(servers) and all(s.heartbeat_at > later for s in servers)

    return check
