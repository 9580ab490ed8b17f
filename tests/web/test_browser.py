"""Browser tests: Debian's headless Chromium driven by Playwright, against a real
``rocketjob web`` process and a real ``rocketjob`` worker on the same SQLite file.

Skipped locally when Chromium or Playwright is missing; a failure when ``CI=true``.
Set ``SCREENSHOTS_DIR=docs/images`` to refresh the documentation's screenshots.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import rocketjob
from rocketjob.web.passwords import hash_password
from tests.web.test_cli_web import REPO, free_port

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
TIMEOUT_MS = 20_000

pytestmark = pytest.mark.slow


def _require_browser() -> Any:
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


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A config file, a store with a failed job, and a running `rocketjob web`."""
    port = free_port()
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    config = tmp_path / "rocketjob.toml"
    config.write_text(f"""
[store]
url = "{url}"
[worker]
threads = 2
imports = ["examples.jobs"]
heartbeat_seconds = 1
zombie_seconds = 10
max_poll_seconds = 0.2
[web]
bind = "127.0.0.1:{port}"
refresh_seconds = 0.5
counts_ttl_seconds = 0.5
[[web.users]]
name = "ops"
password_hash = "{hash_password("ops-password", n=2**12)}"
role = "admin"
""")
    rocketjob.connect(url)
    from examples.jobs import CalculateJob

    job = CalculateJob.perform_later(20, 22)
    try:
        raise ZeroDivisionError("the answer is not ready yet")
    except ZeroDivisionError as exc:
        job.fail(exc)
    _seed_other_jobs()
    env = {**os.environ, "ROCKETJOB_WEB_SECRET": "browser-test-secret"}
    web = subprocess.Popen([sys.executable, "-m", "rocketjob", "web", "-c", str(config)],
                           cwd=REPO, env=env)  # fmt: skip
    processes = [web]
    try:
        _wait_http(f"http://127.0.0.1:{port}/login", web)
        yield {"base": f"http://127.0.0.1:{port}", "config": config, "job": job,
               "processes": processes, "env": env}  # fmt: skip
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        rocketjob.disconnect()


def _seed_other_jobs() -> None:
    """Jobs of a class the worker does not import (they stay put): realistic screens."""
    import datetime as dt

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


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            assert process.poll() is None, "rocketjob web exited"
            assert time.monotonic() < deadline, f"{url} did not answer"
            time.sleep(0.05)


def _shoot(page: Any, name: str) -> None:
    folder = os.environ.get("SCREENSHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_retry_a_failed_job_and_control_a_server(deployment: dict[str, Any]) -> None:
    sync_playwright = _require_browser()
    from playwright.sync_api import expect

    base, job = deployment["base"], deployment["job"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        page.goto(f"{base}/jobs/failed")
        expect(page).to_have_url(re.compile(r"/login"))
        _shoot(page, "login")
        page.fill("input[name=name]", "ops")
        page.fill("input[name=password]", "ops-password")
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_have_text("Failed jobs")
        expect(page.locator(f"a[href='/job/{job.id}']")).to_be_visible()
        row = page.locator(f"tr:has(a[href='/job/{job.id}'])")
        expect(row.locator("td.exception")).to_contain_text("ZeroDivisionError")
        _shoot(page, "failed_jobs")

        page.click(f"a[href='/job/{job.id}']")
        backtrace = page.locator("#backtrace")
        expect(backtrace).to_contain_text("Traceback (most recent call last):")
        expect(backtrace).to_contain_text("ZeroDivisionError: the answer is not ready yet")
        _shoot(page, "job_failed")

        worker = subprocess.Popen(
            [sys.executable, "-m", "rocketjob", "-c", str(deployment["config"])],
            cwd=REPO, env=deployment["env"],
        )  # fmt: skip
        deployment["processes"].append(worker)
        page.click("button.action-retry")
        expect(page.locator(".flash")).to_contain_text(f"retry: job {job.id} is now queued")
        expect(page.locator(".badge")).to_have_text("completed")  # live refresh
        expect(page.locator("#result")).to_contain_text("42")
        _shoot(page, "job_completed")

        page.goto(f"{base}/servers")
        row = page.locator("tr[data-server]").first
        expect(row.locator(".server-state")).to_contain_text("running")
        row.locator("button.server-pause").click()
        expect(page.locator(".flash")).to_contain_text("pause sent to")
        expect(page.locator("tr[data-server] .server-state").first).to_contain_text("paused")
        _shoot(page, "servers")
        page.locator("tr[data-server] button.server-resume").first.click()
        expect(page.locator("tr[data-server] .server-state").first).to_contain_text("running")

        page.goto(f"{base}/")
        expect(page.locator(".card.state-completed .value")).to_have_text("1")
        _shoot(page, "dashboard")
        page.goto(f"{base}/audit")
        expect(page.locator("table.audit")).to_contain_text("server resume")
        expect(page.locator("table.audit")).to_contain_text(f"job {job.id}")
        _shoot(page, "audit")
        assert not errors, errors  # no CSP violations or script errors
        browser.close()
