"""What the browser tests share (``tests/web/test_browser*.py``): Debian's headless
Chromium driven by Playwright, against real ``rocketjob web`` and ``rocketjob`` worker
processes on one SQLite file.

Skipped locally when Chromium or Playwright is missing; a failure when ``CI=true``.
Set ``SCREENSHOTS_DIR=docs/images`` to refresh the documentation's screenshots.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import rocketjob
from rocketjob.web.passwords import hash_password
from tests.support import wait_until
from tests.web.test_cli_web import REPO

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
TIMEOUT_MS = 20_000
#: The environment of the processes a browser test starts.
ENV = {**os.environ, "ROCKETJOB_WEB_SECRET": "browser-test-secret"}


def require_browser() -> Any:
    """Playwright's ``sync_playwright``; skips (fails on CI) without Chromium."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or not Path(CHROMIUM).exists():
        reason = "headless Chromium (/usr/bin/chromium) and playwright are needed: bin/setup.d/web"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return sync_playwright


@contextlib.contextmanager
def browser_page(viewport: dict[str, int]) -> Iterator[tuple[Any, list[str]]]:
    """A Chromium page of ``viewport`` size with long timeouts (a loaded CI machine: not
    Playwright's 5 s default), and the list its console and script errors go to."""
    sync_playwright = require_browser()
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport=viewport)
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            yield page, errors
        finally:
            browser.close()


def write_config(
    path: Path,
    port: int,
    url: str,
    imports: list[str],
    *,
    role: str = "admin",
    worker: str = "zombie_seconds = 10",
    supervisor: str = "",
) -> None:
    """A config for ``rocketjob web`` on ``port`` (user ``ops``, password
    ``ops-password``, of ``role``) and a worker importing ``imports``; ``worker`` and
    ``supervisor`` are extra lines of those sections."""
    path.write_text(f"""
[store]
url = "{url}"
[supervisor]
{supervisor}
[worker]
threads = 2
imports = {imports!r}
heartbeat_seconds = 1
max_poll_seconds = 0.2
{worker}
[web]
bind = "127.0.0.1:{port}"
refresh_seconds = 0.5
counts_ttl_seconds = 0.5
[[web.users]]
name = "ops"
password_hash = "{hash_password("ops-password", n=2**12)}"
role = "{role}"
""")


def start(config: Path, *command: str) -> subprocess.Popen[bytes]:
    """``rocketjob COMMAND -c config`` (no command: the supervisor and its workers)."""
    return subprocess.Popen(
        [sys.executable, "-m", "rocketjob", *command, "-c", str(config)], cwd=REPO, env=ENV
    )


@contextlib.contextmanager
def serving(config: Path, port: int, *, worker: bool = False) -> Iterator[dict[str, Any]]:
    """``rocketjob web`` (and a worker when ``worker``) on ``config``, answering on
    ``port``: ``{base, config, processes, env}``; a test may append processes. Every one
    is stopped, and the store disconnected, at the end."""
    processes = [start(config, "web")]
    if worker:
        processes.append(start(config))
    try:
        wait_http(f"http://127.0.0.1:{port}/login", processes[0])
        yield {"base": f"http://127.0.0.1:{port}", "config": config, "processes": processes,
               "env": ENV}  # fmt: skip
    finally:
        stop(processes)
        rocketjob.disconnect()


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Terminate ``processes``, newest first (killed after 15 s)."""
    for process in reversed(processes):
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def seed_other_jobs() -> None:
    """Jobs of a class the worker does not import (they stay put): realistic screens."""
    from tests.web.webjobs import BrokenJob, ReportJob

    ReportJob.perform_all_later([(f"2024-{m:02d}", f"customer-{m}") for m in range(1, 13)])
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    ReportJob.set(run_at=later).perform_all_later([("nightly",), ("weekly",)])
    ReportJob.perform_later("on-hold").pause()
    ReportJob.perform_later("cancelled").abort()
    for name in ("orders.csv", "refunds.csv", "<script>alert(1)</script>.csv"):
        job = BrokenJob.perform_later(name)
        try:
            raise FileNotFoundError(f"no such file: {name}")
        except FileNotFoundError as exc:
            job.fail(exc)


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Wait until ``url`` answers (``process`` must stay alive meanwhile)."""

    def answers() -> bool:
        try:
            httpx.get(url, timeout=2)
            return True
        except httpx.TransportError:
            assert process.poll() is None, "rocketjob web exited"
            return False

    wait_until(answers, timeout=timeout, what=f"{url} to answer")


def shoot(page: Any, name: str) -> None:
    """Save a screenshot of ``page`` as ``name``.png when SCREENSHOTS_DIR is set."""
    folder = os.environ.get("SCREENSHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
