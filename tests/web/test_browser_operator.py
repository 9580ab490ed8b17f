"""The operator's view in headless Chromium (issue 21): the dashboard's counts with the
Scheduled card, the job page of a failed, a running and a scheduled job, and Retry asking
for confirmation, against a real ``rocketjob web`` and a real worker running a long job.

Set ``SCREENSHOTS_DIR=docs/images`` to refresh the documentation's screenshots.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rocketjob
from tests.support import wait_until
from tests.web.browser import browser_page, seed_other_jobs, serving, shoot, write_config
from tests.web.test_cli_web import free_port

pytestmark = pytest.mark.slow


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
    write_config(
        config, port, url, ["examples.jobs", "tests.integration.jobs"], role="operator",
        worker='include = ["tests.integration.jobs.SleepJob"]', supervisor="drain_timeout = 1",
    )  # fmt: skip
    rocketjob.connect(url)
    failed = CalculateJob.perform_later(20, 22)
    _fail(failed, TimeoutError("the pricing service did not answer in 5 s"))
    failed.retry()
    _fail(failed, ZeroDivisionError("the answer is not ready yet"))
    scheduled = CalculateJob.set(run_at=dt.timedelta(hours=3), description="quarterly totals")
    later = scheduled.perform_later(1, 2)
    seed_other_jobs()
    running = SleepJob.perform_later(str(tmp_path / "ran.txt"), "report", 120.0)
    with serving(config, port, worker=True) as served:
        wait_until(lambda: running.reload().running, timeout=30)
        yield {"base": served["base"], "failed": failed, "scheduled": later,
               "running": running}  # fmt: skip


def test_dashboard_and_the_pages_of_failed_running_and_scheduled_jobs(
    operations: dict[str, Any],
) -> None:
    from playwright.sync_api import expect

    base = operations["base"]
    failed, running, scheduled = (operations[k] for k in ("failed", "running", "scheduled"))
    with browser_page({"width": 1280, "height": 900}) as (page, errors):
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
        shoot(page, "dashboard")
        page.click(".card.state-scheduled")
        expect(page.locator("h1")).to_have_text("Scheduled jobs")
        expect(page.locator("nav.tabs a.current .count")).to_have_text("3")
        expect(page.locator("table.jobs tbody tr")).to_have_count(3)
        shoot(page, "scheduled_jobs")

        # A scheduled job: when it will run, relative with the absolute time on hover.
        page.click(f"a[href='/job/{scheduled.id}']")
        expect(page.locator("h1 .badge")).to_have_text("queued")
        run_at = page.locator("tr:has(th:text-is('Run at')) td")
        expect(run_at).to_contain_text("(in 2 h 59 min)")
        expect(run_at.locator(".badge")).to_have_text("scheduled")
        shoot(page, "job_scheduled")

        # A running job: how long it has run so far, refreshed live.
        page.goto(f"{base}/job/{running.id}")
        expect(page.locator("h1 .badge")).to_have_text("running")
        elapsed = page.locator("td.duration")
        expect(elapsed).to_have_text(re.compile(r"^\d+(\.\d)? s$"))
        first = elapsed.inner_text()
        expect(elapsed).not_to_have_text(first)  # the page refreshed itself
        expect(page.locator("td.queued-for")).to_have_text(re.compile(r"\d"))
        shoot(page, "job_running")

        # A failed job: "Failed at", its attempts, and Retry asks first.
        page.goto(f"{base}/jobs/failed")
        shoot(page, "failed_jobs")
        page.click(f"a[href='/job/{failed.id}']")
        expect(page.locator("th.finished-label")).to_have_text("Failed at")
        expect(page.locator("#backtrace")).to_contain_text("ZeroDivisionError")
        attempts = page.locator("table.attempts tbody tr")
        expect(attempts).to_have_count(2)
        expect(attempts.first).to_contain_text("ZeroDivisionError: the answer is not ready yet")
        expect(attempts.nth(1)).to_contain_text("TimeoutError: the pricing service")
        shoot(page, "job_failed")
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
