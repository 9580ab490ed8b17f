"""Mission Control mounted at ``/ops/jobs`` inside FastAPI, Starlette and Django: the
examples of docs/mission_control.md, run as written by a real uvicorn on 127.0.0.1.

Over HTTP, every URL a page sends to the browser stays under the mount point, the login
redirects and the session cookie follow it, and the host application still answers its
own paths. In headless Chromium (FastAPI and Starlette): log in, every screen, retry a
failed job (confirming), log out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest

import rocketjob
from rocketjob.web.passwords import hash_password
from tests.web.browser import (
    ARGS,
    CHROMIUM,
    TIMEOUT_MS,
    require_browser,
    seed_other_jobs,
    stop,
    wait_http,
)
from tests.web.test_cli_web import REPO, free_port

PREFIX = "/ops/jobs"
DOCS = REPO / "docs" / "mission_control.md"
URL_ATTR = re.compile(r'\b(?:href|action|src)="([^"]*)"')
DJANGO_SETTINGS = """
SECRET_KEY = "django-test-key"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
ROOT_URLCONF = "mysite.urls"
INSTALLED_APPS: list[str] = []
"""
DJANGO_URLS = """
from django.http import HttpResponse
from django.urls import path

urlpatterns = [path("", lambda request: HttpResponse("django shop open"))]
"""


def doc_example(name: str) -> str:
    """The python block after ``<!-- mount-example: NAME -->`` in the docs."""
    text = DOCS.read_text()
    match = re.search(rf"<!-- mount-example: {name} -->\n```python\n(.*?)```", text, re.S)
    assert match, f"docs/mission_control.md has no {name} mounting example"
    return match.group(1)


def _write_project(tmp: Path, kind: str, port: int) -> str:
    """The example as main.py beside conf/production.toml (and a tiny Django site)."""
    (tmp / "conf").mkdir()
    (tmp / "conf" / "production.toml").write_text(f"""
[store]
url = "sqlite:///{tmp / "jobs.db"}"
[worker]
imports = ["examples.jobs", "tests.web.webjobs"]
[web]
refresh_seconds = 0.5
counts_ttl_seconds = 0.5
[[web.users]]
name = "ops"
password_hash = "{hash_password("ops-password", n=2**12)}"
role = "admin"
""")
    (tmp / "main.py").write_text(doc_example(kind))
    if kind == "django":
        (tmp / "mysite").mkdir()
        (tmp / "mysite" / "__init__.py").write_text("")
        (tmp / "mysite" / "settings.py").write_text(DJANGO_SETTINGS)
        (tmp / "mysite" / "urls.py").write_text(DJANGO_URLS)
        return "main:application"
    return "main:app"


def _seed(url: str) -> str:
    """A failed job (and the browser tests' other jobs); returns the failed job's id."""
    from examples.jobs import CalculateJob

    rocketjob.connect(url)
    job = CalculateJob.perform_later(20, 22)
    try:
        raise ZeroDivisionError("the answer is not ready yet")
    except ZeroDivisionError as exc:
        job.fail(exc)
    seed_other_jobs()
    return job.id


@pytest.fixture(params=["fastapi", "starlette", "django"])
def host(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The docs' example for one framework, served by uvicorn, with seeded jobs."""
    kind = str(request.param)
    pytest.importorskip(kind)
    port = free_port()
    target = _write_project(tmp_path, kind, port)
    failed_id = _seed(f"sqlite:///{tmp_path / 'jobs.db'}")
    env = {**os.environ, "ROCKETJOB_WEB_SECRET": "mount-test-secret",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"],
        cwd=tmp_path, env=env,
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}{PREFIX}/login", server)
        yield {"kind": kind, "base": f"http://127.0.0.1:{port}", "job": failed_id}
    finally:
        stop([server])
        rocketjob.disconnect()


def _urls(html: str) -> list[str]:
    return [unescape(u) for u in URL_ATTR.findall(html)]


def _login(client: httpx.Client, base: str) -> httpx.Response:
    page = client.get(f"{base}{PREFIX}/jobs/failed", headers={"accept": "text/html"})
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    return client.post(
        str(page.url),
        data={"csrf_token": token.group(1), "name": "ops", "password": "ops-password"},
        headers={"accept": "text/html"},
    )


def test_every_url_follows_the_mount_point(host: dict[str, Any]) -> None:
    base, job_id = host["base"], host["job"]
    with httpx.Client(timeout=10, follow_redirects=False) as client:
        refused = client.get(f"{base}{PREFIX}/jobs/failed", headers={"accept": "text/html"})
        assert refused.status_code == 303
        assert refused.headers["location"] == f"{PREFIX}/login?next=%2Fjobs%2Ffailed"
        client.follow_redirects = True
        landed = _login(client, base)
        assert landed.url.path == f"{PREFIX}/jobs/failed", landed.url
        cookie = next(c for c in client.cookies.jar if c.name == "rocketjob_session")
        assert cookie.path == PREFIX
        pages = ["/", "/jobs/running", "/jobs/scheduled", "/jobs/failed", f"/job/{job_id}",
                 "/servers", "/dirmon", "/dirmon/new", "/cron", "/audit"]  # fmt: skip
        for path in pages:
            response = client.get(f"{base}{PREFIX}{path}", headers={"accept": "text/html"})
            assert response.status_code == 200, (path, response.text[:300])
            urls = _urls(response.text)
            assert urls, path
            outside = [u for u in urls if not u.startswith(f"{PREFIX}/")]
            assert not outside, (path, outside)
        css = client.get(f"{base}{PREFIX}/static/app.css")
        assert css.status_code == 200 and "text/css" in css.headers["content-type"]
        home = client.get(f"{base}/")
        assert home.status_code == 200 and "shop open" in home.text  # the host's own page


@pytest.mark.slow
@pytest.mark.parametrize("host", ["fastapi", "starlette"], indirect=True)
def test_browser_under_a_prefix(host: dict[str, Any]) -> None:
    """Log in, every screen, retry a failed job (confirming), log out: FastAPI, Starlette."""
    sync_playwright = require_browser()
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)  # a loaded CI machine: not the 5 s default

    base, job_id = host["base"], host["job"]
    root = f"{base}{PREFIX}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        dialogs: list[str] = []

        def accept(dialog: Any) -> None:
            dialogs.append(dialog.message)
            dialog.accept()

        page.on("dialog", accept)
        page.goto(f"{root}/")
        expect(page).to_have_url(re.compile(rf"{PREFIX}/login"))
        page.fill("input[name=name]", "ops")
        page.fill("input[name=password]", "ops-password")
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{root}/")
        expect(page.locator("h1")).to_have_text("Dashboard")
        _assert_styled_and_inside(page)

        for label, heading in (("Jobs", "Running jobs"), ("Servers", "Servers"),
                               ("Dirmon", "Dirmon entries"), ("Cron", "Cron schedules"),
                               ("Audit log", "Audit log"), ("Dashboard", "Dashboard")):  # fmt: skip
            page.click(f"header nav a:text-is('{label}')")
            expect(page.locator("h1")).to_have_text(heading)
            _assert_styled_and_inside(page)
        page.click("header nav a:text-is('Jobs')")
        for tab in ("Scheduled", "Queued", "Paused", "Failed", "Aborted", "Completed", "All"):
            page.click(f"nav.tabs a:has-text('{tab}')")
            expect(page.locator("h1")).to_have_text(f"{tab} jobs")
            _assert_styled_and_inside(page)

        page.click("nav.tabs a:has-text('Failed')")
        page.click(f"a[href='{PREFIX}/job/{job_id}']")
        expect(page).to_have_url(f"{root}/job/{job_id}")
        expect(page.locator("#backtrace")).to_contain_text("ZeroDivisionError")
        page.click("button.action-retry")
        expect(page.locator(".flash")).to_contain_text(f"retry: job {job_id} is now queued")
        assert dialogs == [f"Retry job {job_id}?"], dialogs
        expect(page).to_have_url(f"{root}/job/{job_id}")
        page.click("a.brand")
        expect(page).to_have_url(f"{root}/")

        page.click("button:has-text('Log out')")
        expect(page).to_have_url(re.compile(rf"{PREFIX}/login$"))
        page.goto(f"{root}/audit")
        expect(page).to_have_url(re.compile(rf"{PREFIX}/login\?next="))  # logged out
        assert not errors, errors
        browser.close()


def _assert_styled_and_inside(page: Any) -> None:
    """The stylesheet applied (so its URL resolved) and no link leaves the mount."""
    background = page.evaluate(
        "getComputedStyle(document.querySelector('header.top')).backgroundColor"
    )
    assert background not in ("rgba(0, 0, 0, 0)", "transparent"), background
    urls = page.evaluate(
        "[...document.querySelectorAll('a[href], form[action], link[href], script[src]')]"
        ".map(e => e.getAttribute('href') || e.getAttribute('action') || e.getAttribute('src'))"
    )
    outside = [u for u in urls if not u.startswith(f"{PREFIX}/")]
    assert not outside, outside
