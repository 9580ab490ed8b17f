"""Authentication, roles, CSRF and the login flow."""

from __future__ import annotations

import base64
import re

import pytest
from starlette.testclient import TestClient

from rocketjob import Job
from tests.web.conftest import HTML, AppFactory, csrf, login, post, users_table
from tests.web.test_pages import failed_job
from tests.web.webjobs import ReportJob


def test_pages_need_login_when_users_are_configured(auth_client: TestClient) -> None:
    page = auth_client.get("/jobs/failed", headers=HTML)
    assert page.url.path == "/login" and "Log in" in page.text
    assert auth_client.get("/jobs/failed").status_code == 401  # non-browser client
    assert auth_client.get("/metrics").status_code == 401


def test_wrong_password_is_refused(auth_client: TestClient) -> None:
    token = csrf(auth_client)
    page = auth_client.post("/login", data={"csrf_token": token, "name": "oper",
                                            "password": "nope"}, headers=HTML)  # fmt: skip
    assert page.status_code == 401 and "wrong user name or password" in page.text
    page = auth_client.post("/login", data={"csrf_token": token, "name": "ghost",
                                            "password": "x"}, headers=HTML)  # fmt: skip
    assert page.status_code == 401


def test_login_redirects_to_next_but_never_off_site(auth_client: TestClient) -> None:
    token = csrf(auth_client)
    page = auth_client.post("/login?next=/servers", data={"csrf_token": token, "name": "viewer",
                            "password": "view-pw"}, headers=HTML)  # fmt: skip
    assert page.url.path == "/servers"
    auth_client.cookies.clear()
    token = csrf(auth_client)
    page = auth_client.post("/login?next=//evil.example/", data={"csrf_token": token,
                            "name": "viewer", "password": "view-pw"}, headers=HTML)  # fmt: skip
    assert page.url.path == "/" and page.url.host == "testserver"


def test_logout_ends_the_session(auth_client: TestClient) -> None:
    login(auth_client, "viewer")
    post(auth_client, "/logout", {})
    assert auth_client.get("/", headers=HTML).url.path == "/login"


@pytest.mark.parametrize(
    ("user", "action", "allowed"),
    [
        ("viewer", "retry", False),
        ("oper", "retry", True),
        ("oper", "destroy", False),
        ("boss", "destroy", True),
    ],
)
def test_job_action_roles(auth_client: TestClient, user: str, action: str, allowed: bool) -> None:
    job = failed_job()
    login(auth_client, user)
    response = post(auth_client, f"/job/{job.id}/action", {"action": action})
    if allowed:
        assert response.status_code == 200
        assert auth_client.app.state.data.audit_entries()[0]["user"] == user
    else:
        assert response.status_code == 403 and "role" in response.text
        assert Job.find(job.id).state == "failed"


def test_viewer_sees_no_action_buttons(auth_client: TestClient) -> None:
    job = failed_job()
    login(auth_client, "viewer")
    page = auth_client.get(f"/job/{job.id}", headers=HTML).text
    assert 'value="retry"' not in page and "/edit" not in page
    login(auth_client, "oper")
    page = auth_client.get(f"/job/{job.id}", headers=HTML).text
    assert 'value="retry"' in page and 'value="destroy"' not in page


def test_bulk_and_server_commands_by_role(auth_client: TestClient) -> None:
    job = failed_job()
    login(auth_client, "oper")
    bulk = post(auth_client, "/jobs/failed/bulk", {"action": "retry", "ids": [job.id]})
    assert bulk.status_code == 403
    command = post(auth_client, "/servers/command", {"name": "x:1", "command": "pause"})
    assert command.status_code == 200  # operator may (the server is unknown: a message)
    login(auth_client, "viewer")
    command = post(auth_client, "/servers/command", {"name": "x:1", "command": "pause"})
    assert command.status_code == 403
    edit = post(auth_client, f"/job/{job.id}/edit", {"priority": "3"})
    assert edit.status_code == 403
    login(auth_client, "boss")
    bulk = post(auth_client, "/jobs/failed/bulk", {"action": "retry", "ids": [job.id]})
    assert bulk.status_code == 200 and Job.find(job.id).state == "queued"


def test_csrf_rejection(client: TestClient) -> None:
    job = failed_job()
    for data in ({"action": "retry"}, {"action": "retry", "csrf_token": "forged"}):
        response = client.post(f"/job/{job.id}/action", data=data)
        assert response.status_code == 403 and "CSRF" in response.text
    other = TestClient(client.app)
    stolen = csrf(client, "/")
    response = other.post(f"/job/{job.id}/action", data={"action": "retry", "csrf_token": stolen})
    assert response.status_code == 403  # a token is only good with its own session
    assert Job.find(job.id).state == "failed"
    assert client.post("/login", data={"name": "x"}).status_code in (303, 200, 403)


def test_login_form_needs_csrf(auth_client: TestClient) -> None:
    response = auth_client.post("/login", data={"name": "boss", "password": "boss-pw"})
    assert response.status_code == 403


def test_basic_auth_for_scrapers(auth_client: TestClient) -> None:
    good = base64.b64encode(b"viewer:view-pw").decode()
    bad = base64.b64encode(b"viewer:wrong").decode()
    for credentials, status in ((good, 200), (bad, 401)):
        headers = {"authorization": f"Basic {credentials}"}
        assert auth_client.get("/metrics", headers=headers).status_code == status


def test_trusted_proxy_header(make_client: AppFactory) -> None:
    client = make_client({"proxy_auth_header": "X-Forwarded-User", "users": users_table(),
                          "trusted_proxies": ["127.0.0.0/8"], "proxy_default_role": "view"},
                         peer="127.0.0.1")  # fmt: skip
    job = ReportJob.perform_later("x")
    assert client.get("/", headers=HTML).url.path == "/login"
    as_boss = {"X-Forwarded-User": "boss", **HTML}
    page = client.get("/", headers=as_boss)
    assert "boss · admin" in page.text
    stranger = {"X-Forwarded-User": "stranger", **HTML}
    assert "stranger · view" in client.get("/", headers=stranger).text
    page = client.get(f"/job/{job.id}", headers=as_boss)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None
    token = match.group(1)
    denied = client.post(f"/job/{job.id}/action", data={"csrf_token": token, "action": "pause"},
                         headers=stranger)  # fmt: skip
    assert denied.status_code == 403
    done = client.post(f"/job/{job.id}/action", data={"csrf_token": token, "action": "pause"},
                       headers=as_boss)  # fmt: skip
    assert done.status_code == 200 and Job.find(job.id).state == "paused"


def test_no_auth_configured_means_local_admin(client: TestClient) -> None:
    page = client.get("/", headers=HTML)
    assert "local · admin" in page.text
    assert client.get("/login", headers=HTML).url.path == "/"


def test_a_login_or_logout_without_its_csrf_token_is_refused_and_audited(
    auth_client: TestClient,
) -> None:
    page = auth_client.post("/login", data={"name": "oper", "password": "oper-pw"}, headers=HTML)
    assert page.status_code == 403 and "oper · " not in page.text
    login(auth_client, "boss")
    assert auth_client.post("/logout", data={}, headers=HTML).status_code == 403
    assert auth_client.get("/jobs/failed", headers=HTML).url.path == "/jobs/failed"  # still in
    audit = auth_client.get("/audit", headers=HTML).text
    refused = re.findall(r'<tr class="outcome-refused">(.*?)</tr>', audit, re.S)
    actions = [re.findall(r"<td>(.*?)</td>", row, re.S)[2] for row in refused]
    assert "logout" in actions and "login" in actions, audit
