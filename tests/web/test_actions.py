"""Job and server actions: POSTs through the state machine, audited, with clear refusals."""

from __future__ import annotations

import datetime as dt

import pytest
from starlette.testclient import TestClient

import rocketjob
from rocketjob import Job
from rocketjob.control import ServerCommand
from tests.web.conftest import HTML, flashes, post
from tests.web.test_pages import failed_job
from tests.web.webjobs import ReportJob


def audit(client: TestClient) -> list[dict]:
    return client.app.state.data.audit_entries()


@pytest.mark.parametrize(
    ("setup", "action", "expected"),
    [
        ("failed", "retry", "queued"),
        ("queued", "pause", "paused"),
        ("paused", "resume", "queued"),
        ("queued", "abort", "aborted"),
        ("failed", "abort", "aborted"),
        ("scheduled", "run_now", "queued"),
    ],
)
def test_each_job_action_goes_through_the_state_machine(
    client: TestClient, setup: str, action: str, expected: str
) -> None:
    job = {
        "failed": lambda: failed_job(),
        "queued": lambda: ReportJob.perform_later("q"),
        "paused": lambda: ReportJob.perform_later("p").pause(),
        "scheduled": lambda: ReportJob.set(
            run_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        ).perform_later("s"),
    }[setup]()
    page = post(client, f"/job/{job.id}/action", {"action": action})
    assert page.status_code == 200
    fresh = Job.find(job.id)
    assert fresh.state == expected
    if action == "run_now":
        assert fresh.run_at is None
    assert any(f"is now {expected}" in m for m in flashes(page.text))
    entry = audit(client)[0]
    assert (entry["user"], entry["action"], entry["target"], entry["outcome"]) == (
        "local", action, f"job {job.id}", "ok",
    )  # fmt: skip


def test_destroy_removes_the_job(client: TestClient) -> None:
    job = ReportJob.perform_later("x")
    page = post(client, f"/job/{job.id}/action", {"action": "destroy"})
    assert f"job {job.id} destroyed" in flashes(page.text)
    assert rocketjob.current_store().get_job(job.id) is None
    assert audit(client)[0]["action"] == "destroy"


def test_invalid_transition_gets_a_clear_message_and_changes_nothing(client: TestClient) -> None:
    job = ReportJob.perform_later("x")
    page = post(client, f"/job/{job.id}/action", {"action": "retry"})
    assert f"cannot retry job {job.id}: it is queued" in flashes(page.text)
    assert Job.find(job.id).state == "queued"
    entry = audit(client)[0]
    assert entry["outcome"] == "refused" and "cannot retry" in entry["detail"]


def test_unknown_job_and_unknown_action(client: TestClient) -> None:
    page = post(client, "/job/nope/action", {"action": "retry"})
    assert "no job with id 'nope'" in flashes(page.text)[0]
    assert post(client, "/job/nope/action", {"action": "explode"}).status_code == 400


def test_edit_priority_and_user_editable_fields(client: TestClient) -> None:
    job = ReportJob.create(customer="acme", rows=3)
    page = post(client, f"/job/{job.id}/edit",
                {"priority": "7", "field.customer": "globex", "field.rows": "12",
                 "field.secret_note": "hacked"})  # fmt: skip
    assert f"job {job.id} saved" in flashes(page.text)
    fresh = Job.find(job.id)
    assert (fresh.priority, fresh.customer, fresh.rows, fresh.secret_note) == (7, "globex", 12, "")
    assert audit(client)[0]["action"] == "edit"
    bad = post(client, f"/job/{job.id}/edit", {"priority": "500"})
    assert any("priority" in m for m in flashes(bad.text))
    assert Job.find(job.id).priority == 7


def test_bulk_on_ticked_jobs(client: TestClient) -> None:
    jobs = [failed_job() for _ in range(3)]
    ids = [jobs[0].id, jobs[1].id]
    page = post(client, "/jobs/failed/bulk", {"action": "retry", "scope": "selected", "ids": ids})
    assert "retry: 2 done, 0 refused" in flashes(page.text)
    assert [Job.find(j.id).state for j in jobs] == ["queued", "queued", "failed"]
    entry = audit(client)[0]
    assert entry["action"] == "bulk retry" and entry["detail"] == "2 done, 0 refused"


def test_bulk_on_whole_filtered_list_reports_refusals(client: TestClient) -> None:
    reports = ReportJob.perform_all_later([("a",), ("b",)])
    paused = ReportJob.perform_later("c").pause()
    others = failed_job()
    page = post(client, "/jobs/all/bulk", {
        "action": "pause", "scope": "all", "class": "tests.web.webjobs.ReportJob", "q": "",
    })  # fmt: skip
    assert any("2 done, 1 refused" in m for m in flashes(page.text))
    assert all(Job.find(j.id).state == "paused" for j in [*reports, paused])
    assert Job.find(others.id).state == "failed"


def test_bulk_with_text_filter(client: TestClient) -> None:
    keep = ReportJob.perform_later("keep-me")
    drop = ReportJob.perform_later("drop-me")
    post(client, "/jobs/queued/bulk", {"action": "abort", "scope": "all", "q": "drop-me"})
    assert Job.find(drop.id).state == "aborted" and Job.find(keep.id).state == "queued"


def test_server_commands_are_queued_and_audited(client: TestClient) -> None:
    store = rocketjob.current_store()
    now = dt.datetime.now(dt.UTC)
    store.register_server({"name": "h:1", "host": "h", "pid": 1, "state": "running",
                           "started_at": now, "heartbeat_at": now, "threads": 2, "busy": 0,
                           "info": {}, "commands": []})  # fmt: skip
    for command in ServerCommand:
        page = post(client, "/servers/command", {"name": "h:1", "command": command}, "/servers")
        assert any("sent to h:1" in m for m in flashes(page.text))
    assert store.list_servers()[0]["commands"] == ["pause", "resume", "stop", "kill", "thread-dump"]
    assert audit(client)[0]["action"] == "server thread-dump"
    gone = post(client, "/servers/command", {"name": "gone:9", "command": "pause"}, "/servers")
    assert "no server named gone:9" in flashes(gone.text)[0]
    assert post(client, "/servers/command", {"name": "h:1", "command": "rm"}).status_code == 400


def test_actions_need_post(client: TestClient) -> None:
    job = ReportJob.perform_later("x")
    assert client.get(f"/job/{job.id}/action", headers=HTML).status_code == 405
