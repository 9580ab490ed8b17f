"""The cron screen: every known cron class, its schedule, next time and instance; "run
now" for admins through job.run_now(), a CSRF-checked POST, audited."""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import rocketjob
from rocketjob import Job
from rocketjob.job import REGISTRY
from rocketjob.plugins import cron
from tests.web.conftest import HTML, flashes, login, post
from tests.web.webjobs import NightlyJob

NIGHTLY = "tests.web.webjobs.NightlyJob"


def row(html: str, job_class: str = NIGHTLY) -> str:
    match = re.search(rf'<tr data-class="{re.escape(job_class)}">(.*?)</tr>', html, re.S)
    assert match, html[:3000]
    return match.group(1)


def last_audit(client: TestClient) -> dict[str, Any]:
    entry: dict[str, Any] = client.app.state.data.audit_entries()[0]
    return entry


def test_lists_cron_classes_with_schedule_next_time_and_instance(client: TestClient) -> None:
    expected = cron.next_run_at(NightlyJob, dt.datetime.now(dt.UTC))
    assert expected is not None
    page = client.get("/cron", headers=HTML)
    assert page.status_code == 200
    cells = row(page.text)
    assert "0 3 * * * Europe/London" in cells and "Europe/London" in cells
    assert expected.strftime("%Y-%m-%d %H:%M") in cells
    assert "none: created at the next worker boot" in cells
    assert "tests.web.webjobs.ReportJob" not in page.text  # not a cron class
    instance = NightlyJob.create()
    cells = row(client.get("/cron", headers=HTML).text)
    assert f'<a href="/job/{instance.id}">{instance.id}</a>' in cells
    assert "queued" in cells and f"run at {expected:%Y-%m-%d %H:%M}" in cells


def test_run_now_clears_the_run_at_of_the_queued_instance(client: TestClient) -> None:
    instance = NightlyJob.create()
    assert instance.run_at is not None
    page = post(client, "/cron/run_now", {"job_class": NIGHTLY}, token_from="/cron")
    assert page.status_code == 200
    assert f"run now: {NIGHTLY}: job {instance.id} queued to run now" in flashes(page.text)
    fresh = Job.find(instance.id)
    assert fresh.state == "queued" and fresh.run_at is None
    assert "runnable now" in row(page.text)
    audit = last_audit(client)
    assert (audit["user"], audit["action"], audit["target"], audit["outcome"]) == (
        "local", "cron run now", f"job {instance.id}", "ok",
    )  # fmt: skip


def test_run_now_without_an_instance_creates_one_to_run_at_once(client: TestClient) -> None:
    page = post(client, "/cron/run_now", {"job_class": NIGHTLY}, token_from="/cron")
    [job] = NightlyJob.where(["queued"])
    assert job.run_at is None
    assert f"job {job.id} created and queued to run now" in flashes(page.text)[0]


def test_run_now_refusals(client: TestClient) -> None:
    instance = NightlyJob.create().pause()
    cells = row(client.get("/cron", headers=HTML).text)
    assert "cron-run-now" not in cells  # no button for a paused instance
    page = post(client, "/cron/run_now", {"job_class": NIGHTLY}, token_from="/cron")
    assert f"cannot run_now job {instance.id}: it is paused" in flashes(page.text)
    assert Job.find(instance.id).state == "paused"
    assert last_audit(client)["outcome"] == "refused"
    page = post(client, "/cron/run_now", {"job_class": "tests.web.webjobs.ReportJob"}, "/cron")
    assert "'tests.web.webjobs.ReportJob' is not a known cron job class" in flashes(page.text)
    page = post(client, "/cron/run_now", {"job_class": "<script>x</script>"}, "/cron")
    assert "<script>x" not in page.text and last_audit(client)["outcome"] == "refused"


def test_roles_and_csrf(auth_client: TestClient) -> None:
    instance = NightlyJob.create()
    for user in ("viewer", "oper"):
        login(auth_client, user)
        page = auth_client.get("/cron", headers=HTML)
        assert page.status_code == 200 and "cron-run-now" not in page.text
        response = post(auth_client, "/cron/run_now", {"job_class": NIGHTLY}, "/cron")
        assert response.status_code == 403, user
    login(auth_client, "boss")
    assert "cron-run-now" in auth_client.get("/cron", headers=HTML).text
    for token in ({}, {"csrf_token": "forged"}):
        response = auth_client.post("/cron/run_now", data={"job_class": NIGHTLY, **token})
        assert response.status_code == 403 and "CSRF" in response.text
    assert Job.find(instance.id).run_at is not None
    response = post(auth_client, "/cron/run_now", {"job_class": NIGHTLY}, "/cron")
    assert response.status_code == 200 and Job.find(instance.id).run_at is None
    assert last_audit(auth_client)["user"] == "boss"


def test_cron_class_known_only_from_the_store(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cron class no imported module defines is found through its stored instance:
    its module is imported the way the job page imports a job's class."""
    (tmp_path / "storedcron.py").write_text(
        "from rocketjob import Job\n\n\nclass StoredCronJob(Job):\n"
        "    cron_schedule = '*/5 * * * *'\n\n    def perform(self):\n        pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    job = NightlyJob.create()
    store = rocketjob.current_store()
    store.update_job(job.id, {"job_class": "storedcron.StoredCronJob"})
    assert "storedcron" not in sys.modules
    client.app.state.data.counts.refresh()
    cells = row(client.get("/cron", headers=HTML).text, "storedcron.StoredCronJob")
    assert "*/5 * * * *" in cells and job.id in cells
    monkeypatch.delitem(sys.modules, "storedcron")
    monkeypatch.delitem(REGISTRY, "storedcron.StoredCronJob")
