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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import rocketjob
from rocketjob.web.passwords import hash_password
from tests.support import wait_until
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


def _write_config(path: Path, port: int, url: str, imports: list[str]) -> None:
    path.write_text(f"""
[store]
url = "{url}"
[worker]
threads = 2
imports = {imports!r}
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


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A config file, a store with a failed job, and a running `rocketjob web`."""
    port = free_port()
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    config = tmp_path / "rocketjob.toml"
    _write_config(config, port, url, ["examples.jobs"])
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
        _stop(processes)
        rocketjob.disconnect()


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in reversed(processes):
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


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
    def answers() -> bool:
        try:
            httpx.get(url, timeout=2)
            return True
        except httpx.TransportError:
            assert process.poll() is None, "rocketjob web exited"
            return False

    wait_until(answers, timeout=timeout, what=f"{url} to answer")


def _shoot(page: Any, name: str) -> None:
    folder = os.environ.get("SCREENSHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_retry_a_failed_job_and_control_a_server(deployment: dict[str, Any]) -> None:
    sync_playwright = _require_browser()
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)  # a loaded CI machine: not the 5 s default

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
        page.once("dialog", lambda dialog: dialog.accept())  # Retry asks first
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


@pytest.fixture
def behaviours(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`rocketjob web` importing tests.web.webjobs (a cron class), with dirmon entries."""
    from rocketjob.plugins.dirmon_entries import DirmonEntry

    port = free_port()
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    config = tmp_path / "rocketjob.toml"
    _write_config(config, port, url, ["tests.web.webjobs"])
    rocketjob.connect(url)
    upload = "tests.web.webjobs.UploadJob"
    DirmonEntry.create("invoices", f"{tmp_path}/in/invoices/*.csv", upload,
                       properties={"customer": 7})  # fmt: skip
    DirmonEntry.create("bank-statements", f"{tmp_path}/in/bank/**/*.pdf", upload, enabled=False)
    DirmonEntry.create("legacy-feed", "/srv/feeds/legacy/*.xml", "app.jobs.LegacyImportJob")
    rocketjob.current_store().update_dirmon_entry("legacy-feed", {
        "last_error": "LookupError: unknown job class 'app.jobs.LegacyImportJob' "
                      "(is its module in [worker] imports?)"})  # fmt: skip
    env = {**os.environ, "ROCKETJOB_WEB_SECRET": "browser-test-secret"}
    web = subprocess.Popen([sys.executable, "-m", "rocketjob", "web", "-c", str(config)],
                           cwd=REPO, env=env)  # fmt: skip
    processes = [web]
    try:
        _wait_http(f"http://127.0.0.1:{port}/login", web)
        yield {"base": f"http://127.0.0.1:{port}", "config": config, "processes": processes,
               "env": env, "tmp": tmp_path}  # fmt: skip
    finally:
        _stop(processes)
        rocketjob.disconnect()


def test_dirmon_entries_and_cron_run_now(behaviours: dict[str, Any]) -> None:
    """Create and disable a dirmon entry; a real worker schedules the cron instance, Run
    now runs it, the next one is scheduled; the dashboard shows the workers' counters."""
    sync_playwright = _require_browser()
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)  # a loaded CI machine: not the 5 s default

    base, tmp = behaviours["base"], behaviours["tmp"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
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
        _shoot(page, "dirmon")

        worker = subprocess.Popen(
            [sys.executable, "-m", "rocketjob", "-c", str(behaviours["config"])],
            cwd=REPO, env=behaviours["env"],
        )  # fmt: skip
        behaviours["processes"].append(worker)
        page.goto(f"{base}/cron")
        cron_row = page.locator("tr[data-class='tests.web.webjobs.NightlyJob']")
        link = cron_row.locator(".instance a")
        expect(link).to_be_visible()  # created by the worker at boot; live refresh shows it
        expect(cron_row.locator(".instance")).to_contain_text("run at")
        _shoot(page, "cron")
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
        browser.close()
    completed = re.compile(r'rocketjob_jobs_completed_total\{server="[^"]+"\} [1-9]')

    def scrape() -> str:  # the worker's next heartbeat carries the completed count
        text = httpx.get(f"{base}/metrics", auth=("ops", "ops-password"), timeout=10).text
        return text if completed.search(text) else ""

    metrics = wait_until(scrape, timeout=20, what="a completed count in /metrics")
    assert 'rocketjob_job_run_seconds_bucket{server="' in metrics
