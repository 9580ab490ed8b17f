"""The operator's view in headless Chromium (issue 21): the dashboard's counts with the
Scheduled card, the job page of a failed, a running and a scheduled job, and Retry asking
for confirmation, against a real ``rocketjob web`` and a real worker running a long job.

Set ``SCREENSHOTS_DIR=docs/images`` to refresh the documentation's screenshots.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rocketjob
from rocketjob.web.passwords import hash_password
from tests.support import wait_until
from tests.web.test_browser import (
    ARGS,
    CHROMIUM,
    TIMEOUT_MS,
    _require_browser,
    _seed_other_jobs,
    _shoot,
    _stop,
    _wait_http,
)
from tests.web.test_cli_web import REPO, free_port

pytestmark = pytest.mark.slow


def _config(path: Path, port: int, url: str) -> None:
    path.write_text(f"""
[store]
url = "{url}"
[supervisor]
drain_timeout = 1
[worker]
threads = 2
imports = ["examples.jobs", "tests.integration.jobs"]
include = ["tests.integration.jobs.SleepJob"]
heartbeat_seconds = 1
max_poll_seconds = 0.2
[web]
bind = "127.0.0.1:{port}"
refresh_seconds = 0.5
counts_ttl_seconds = 0.5
[[web.users]]
name = "ops"
password_hash = "{hash_password("ops-password", n=2**12)}"
role = "operator"
""")


def _fail(job: Any, exc: BaseException) -> None:
    try:
        raise exc
    except type(exc) as caught:
        job.fail(caught)


@pytest.fixture
def operations(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A store with a failed job (failed twice), a scheduled job, the browser tests'
    other jobs, a worker running a long job, and `rocketjob web`."""
    from examples.jobs import CalculateJob
    from tests.integration.jobs import SleepJob

    port, url = free_port(), f"sqlite:///{tmp_path / 'jobs.db'}"
    config = tmp_path / "rocketjob.toml"
    _config(config, port, url)
    rocketjob.connect(url)
    failed = CalculateJob.perform_later(20, 22)
    _fail(failed, TimeoutError("the pricing service did not answer in 5 s"))
    failed.retry()
    _fail(failed, ZeroDivisionError("the answer is not ready yet"))
    scheduled = CalculateJob.set(run_at=dt.timedelta(hours=3), description="quarterly totals")
    later = scheduled.perform_later(1, 2)
    _seed_other_jobs()
    running = SleepJob.perform_later(str(tmp_path / "ran.txt"), "report", 120.0)
    env = {**os.environ, "ROCKETJOB_WEB_SECRET": "browser-test-secret"}
    processes = [
        subprocess.Popen([sys.executable, "-m", "rocketjob", "web", "-c", str(config)],
                         cwd=REPO, env=env),
        subprocess.Popen([sys.executable, "-m", "rocketjob", "-c", str(config)],
                         cwd=REPO, env=env),
    ]  # fmt: skip
    try:
        _wait_http(f"http://127.0.0.1:{port}/login", processes[0])
        wait_until(lambda: running.reload().running, timeout=30)
        yield {"base": f"http://127.0.0.1:{port}", "failed": failed, "scheduled": later,
               "running": running}  # fmt: skip
    finally:
        _stop(processes)
        rocketjob.disconnect()


def test_dashboard_and_the_pages_of_failed_running_and_scheduled_jobs(
    operations: dict[str, Any],
) -> None:
    sync_playwright = _require_browser()
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)  # a loaded CI machine: not the 5 s default

    base = operations["base"]
    failed, running, scheduled = (operations[k] for k in ("failed", "running", "scheduled"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/")
        page.fill("input[name=name]", "ops")
        page.fill("input[name=password]", "ops-password")
        page.click("button[type=submit]")

        # Dashboard: 12 ready ReportJobs; 2 ReportJobs and 1 CalculateJob for later.
        counts = {"running": "1", "scheduled": "3", "queued": "12", "paused": "1",
                  "failed": "4", "aborted": "1"}  # fmt: skip
        for state, value in counts.items():
            expect(page.locator(f".card.state-{state} .value")).to_have_text(value)
        expect(page.locator("svg.chart text.x-label").first).to_have_text(re.compile(r"\d\d:\d\d"))
        _shoot(page, "dashboard")
        page.click(".card.state-scheduled")
        expect(page.locator("h1")).to_have_text("Scheduled jobs")
        expect(page.locator("nav.tabs a.current .count")).to_have_text("3")
        expect(page.locator("table.jobs tbody tr")).to_have_count(3)
        _shoot(page, "scheduled_jobs")

        # A scheduled job: when it will run, relative with the absolute time on hover.
        page.click(f"a[href='/job/{scheduled.id}']")
        expect(page.locator("h1 .badge")).to_have_text("queued")
        run_at = page.locator("tr:has(th:text-is('Run at')) td")
        expect(run_at).to_contain_text("(in 2 h 59 min)")
        expect(run_at.locator(".badge")).to_have_text("scheduled")
        _shoot(page, "job_scheduled")

        # A running job: how long it has run so far, refreshed live.
        page.goto(f"{base}/job/{running.id}")
        expect(page.locator("h1 .badge")).to_have_text("running")
        elapsed = page.locator("td.duration")
        expect(elapsed).to_have_text(re.compile(r"^\d+(\.\d)? s$"))
        first = elapsed.inner_text()
        expect(elapsed).not_to_have_text(first)  # the page refreshed itself
        expect(page.locator("td.queued-for")).to_have_text(re.compile(r"\d"))
        _shoot(page, "job_running")

        # A failed job: "Failed at", its attempts, and Retry asks first.
        page.goto(f"{base}/jobs/failed")
        _shoot(page, "failed_jobs")
        page.click(f"a[href='/job/{failed.id}']")
        expect(page.locator("th.finished-label")).to_have_text("Failed at")
        expect(page.locator("#backtrace")).to_contain_text("ZeroDivisionError")
        attempts = page.locator("table.attempts tbody tr")
        expect(attempts).to_have_count(2)
        expect(attempts.first).to_contain_text("ZeroDivisionError: the answer is not ready yet")
        expect(attempts.nth(1)).to_contain_text("TimeoutError: the pricing service")
        _shoot(page, "job_failed")
        asked: list[str] = []
        page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
        page.click("button.action-retry")
        wait_until(lambda: asked, timeout=10)
        assert asked == [f"Retry job {failed.id}?"]
        assert failed.reload().failed  # dismissed: nothing happened
        page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
        page.click("button.action-retry")
        expect(page.locator(".flash")).to_contain_text(f"retry: job {failed.id} is now queued")
        assert len(asked) == 2 and failed.reload().queued
        assert not errors, errors
        browser.close()
