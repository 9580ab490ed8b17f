"""Browser tests: Debian's headless Chromium driven by Playwright, against a real
``rocketjob web`` process and a real ``rocketjob`` worker on the same SQLite file
(the set-up they share with test_browser_operator.py: tests/web/browser.py).

Skipped locally when Chromium or Playwright is missing; a failure when ``CI=true``.
Set ``SCREENSHOTS_DIR=docs/images`` to refresh the documentation's screenshots.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import rocketjob
from tests.support import wait_until
from tests.web.browser import browser_page, seed_other_jobs, serving, shoot, start, write_config
from tests.web.test_cli_web import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A config file, a store with a failed job, and a running `rocketjob web`."""
    port = free_port()
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    config = tmp_path / "rocketjob.toml"
    write_config(config, port, url, ["examples.jobs"])
    rocketjob.connect(url)
    from examples.jobs import CalculateJob

    job = CalculateJob.perform_later(20, 22)
    try:
        raise ZeroDivisionError("the answer is not ready yet")
    except ZeroDivisionError as exc:
        job.fail(exc)
    seed_other_jobs()
    with serving(config, port) as served:
        yield {**served, "job": job}


def test_retry_a_failed_job_and_control_a_server(deployment: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    base, job = deployment["base"], deployment["job"]
    with browser_page({"width": 1280, "height": 800}) as (page, errors):
        page.goto(f"{base}/jobs/failed")
        expect(page).to_have_url(re.compile(r"/login"))
        shoot(page, "login")
        page.fill("input[name=name]", "ops")
        page.fill("input[name=password]", "ops-password")
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_have_text("Failed jobs")
        expect(page.locator(f"a[href='/job/{job.id}']")).to_be_visible()
        row = page.locator(f"tr:has(a[href='/job/{job.id}'])")
        expect(row.locator("td.exception")).to_contain_text("ZeroDivisionError")
        shoot(page, "failed_jobs")

        page.click(f"a[href='/job/{job.id}']")
        backtrace = page.locator("#backtrace")
        expect(backtrace).to_contain_text("Traceback (most recent call last):")
        expect(backtrace).to_contain_text("ZeroDivisionError: the answer is not ready yet")
        shoot(page, "job_failed")

        deployment["processes"].append(start(deployment["config"]))  # a worker
        page.once("dialog", lambda dialog: dialog.accept())  # Retry asks first
        page.click("button.action-retry")
        expect(page.locator(".flash")).to_contain_text(f"retry: job {job.id} is now queued")
        expect(page.locator(".badge")).to_have_text("completed")  # live refresh
        expect(page.locator("#result")).to_contain_text("42")
        shoot(page, "job_completed")

        page.goto(f"{base}/servers")
        row = page.locator("tr[data-server]").first
        expect(row.locator(".server-state")).to_contain_text("running")
        row.locator("button.server-pause").click()
        expect(page.locator(".flash")).to_contain_text("pause sent to")
        expect(page.locator("tr[data-server] .server-state").first).to_contain_text("paused")
        shoot(page, "servers")
        page.locator("tr[data-server] button.server-resume").first.click()
        expect(page.locator("tr[data-server] .server-state").first).to_contain_text("running")

        page.goto(f"{base}/")
        expect(page.locator(".card.state-completed .value")).to_have_text("1")
        shoot(page, "dashboard")
        page.goto(f"{base}/audit")
        expect(page.locator("table.audit")).to_contain_text("server resume")
        expect(page.locator("table.audit")).to_contain_text(f"job {job.id}")
        shoot(page, "audit")
        assert not errors, errors  # no CSP violations or script errors


@pytest.fixture
def behaviours(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`rocketjob web` importing tests.web.webjobs (a cron class), with dirmon entries."""
    from rocketjob.plugins.dirmon_entries import DirmonEntry

    port = free_port()
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    config = tmp_path / "rocketjob.toml"
    write_config(config, port, url, ["tests.web.webjobs"])
    rocketjob.connect(url)
    upload = "tests.web.webjobs.UploadJob"
    DirmonEntry.create("invoices", f"{tmp_path}/in/invoices/*.csv", upload,
                       properties={"customer": 7})  # fmt: skip
    DirmonEntry.create("bank-statements", f"{tmp_path}/in/bank/**/*.pdf", upload, enabled=False)
    DirmonEntry.create("legacy-feed", "/srv/feeds/legacy/*.xml", "app.jobs.LegacyImportJob")
    rocketjob.current_store().update_dirmon_entry("legacy-feed", {
        "last_error": "LookupError: unknown job class 'app.jobs.LegacyImportJob' "
                      "(is its module in [worker] imports?)"})  # fmt: skip
    with serving(config, port) as served:
        yield {**served, "tmp": tmp_path}


def test_dirmon_entries_and_cron_run_now(behaviours: dict[str, Any]) -> None:
    """Create and disable a dirmon entry; a real worker schedules the cron instance, Run
    now runs it, the next one is scheduled; the dashboard shows the workers' counters."""
    from playwright.sync_api import expect

    base, tmp = behaviours["base"], behaviours["tmp"]
    with browser_page({"width": 1280, "height": 800}) as (page, errors):
        page.goto(f"{base}/dirmon")
        page.fill("input[name=name]", "ops")
        page.fill("input[name=password]", "ops-password")
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_have_text("Dirmon entries")

        page.click("a[href='/dirmon/new']")
        page.fill("input[name=name]", "refunds")
        page.fill("input[name=pattern]", "relative/*.csv")
        page.fill("input[name=job_class]", "tests.web.webjobs.UploadJob")
        page.click("button.entry-save")
        expect(page.locator(".form-error")).to_contain_text("must be an absolute path glob")
        errors[:] = [e for e in errors if "status of 400" not in e]  # that form is a 400
        page.fill("input[name=pattern]", f"{tmp}/in/refunds/*.csv")
        page.click("button.entry-save")
        expect(page.locator(".flash").first).to_contain_text("dirmon entry 'refunds' created")
        row = page.locator("tr[data-entry='invoices']")
        row.locator("button.entry-disable").click()
        expect(page.locator("tr[data-entry='invoices'] .entry-enabled")).to_have_text("no")
        page.locator("tr[data-entry='invoices'] button.entry-enable").click()
        expect(page.locator("tr[data-entry='invoices'] .entry-enabled")).to_have_text("yes")
        shoot(page, "dirmon")

        behaviours["processes"].append(start(behaviours["config"]))  # a worker
        page.goto(f"{base}/cron")
        cron_row = page.locator("tr[data-class='tests.web.webjobs.NightlyJob']")
        link = cron_row.locator(".instance a")
        expect(link).to_be_visible()  # created by the worker at boot; live refresh shows it
        expect(cron_row.locator(".instance")).to_contain_text("run at")
        shoot(page, "cron")
        first_id = link.inner_text()
        cron_row.locator("button.cron-run-now").click()
        expect(page.locator(".flash")).to_contain_text(f"job {first_id} queued to run now")
        expect(cron_row.locator(".instance a")).not_to_have_text(first_id)  # the next one
        expect(cron_row.locator(".instance")).to_contain_text("run at")
        page.goto(f"{base}/job/{first_id}")
        expect(page.locator(".badge")).to_have_text("completed")

        page.goto(f"{base}/")
        expect(page.locator(".rate-completed")).to_be_visible()
        page.goto(f"{base}/audit")
        expect(page.locator("table.audit")).to_contain_text("cron run now")
        expect(page.locator("table.audit")).to_contain_text("dirmon create")
        assert not errors, errors
    completed = re.compile(r'rocketjob_jobs_completed_total\{server="[^"]+"\} [1-9]')

    def scrape() -> str:  # the worker's next heartbeat carries the completed count
        text = httpx.get(f"{base}/metrics", auth=("ops", "ops-password"), timeout=10).text
        return text if completed.search(text) else ""

    metrics = wait_until(scrape, timeout=20, what="a completed count in /metrics")
    assert 'rocketjob_job_run_seconds_bucket{server="' in metrics
