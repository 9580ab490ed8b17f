"""Issue 22, hole 2: logout did not end the session. A cookie captured before logout is
replayed against a real server (uvicorn, httpx) for a GET and for an audited POST; idle
timeout, absolute lifetime, a password change and an admin's "sign out everywhere" end
sessions too, in every ``rocketjob web`` process sharing the store."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from rocketjob import Job
from tests.support import FakeClock
from tests.web.conftest import USERS, users_table
from tests.web.liveserver import (
    HTML,
    audit_actions,
    cli_server,
    client,
    live_server,
    login_form,
    page_token,
    store_url,
    write_config,
)
from tests.web.webjobs import ReportJob

__all__ = ["store_url"]


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """One cookie-signing key, so two app instances accept each other's cookies."""
    monkeypatch.setenv("ROCKETJOB_WEB_SECRET", "test-secret-key")


def config(store_url: str, **web: object) -> dict[str, object]:
    return {"store": {"url": store_url}, "web": {"users": users_table(), **web},
            "worker": {"imports": ["tests.web.webjobs"]}}  # fmt: skip


def logged_in(base: str, name: str) -> httpx.Client:
    http = client(base)
    response = login_form(http, name, USERS[name][0])
    assert response.status_code == 303, response.text[:300]
    return http


def replay(base: str, cookies: httpx.Cookies) -> httpx.Client:
    """A new client (the attacker's) holding a captured cookie jar."""
    http = client(base)
    for cookie in cookies.jar:
        http.cookies.set(cookie.name, cookie.value or "")
    return http


def test_a_cookie_captured_before_logout_is_dead_after_it(store_url: str) -> None:
    job = ReportJob.perform_later("x")
    with live_server(config(store_url)) as base:
        victim = logged_in(base, "oper")
        token = page_token(victim, f"/job/{job.id}")
        captured = httpx.Cookies(victim.cookies)
        attacker = replay(base, captured)
        assert attacker.get("/jobs/failed", headers=HTML).status_code == 200  # valid before
        logout = victim.post("/logout", data={"csrf_token": token}, headers=HTML)
        assert logout.status_code == 303 and logout.headers["location"] == "/login"
        attacker = replay(base, captured)
        page = attacker.get("/jobs/failed", headers=HTML)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        assert attacker.get("/jobs/failed").status_code == 401
        pause = attacker.post(f"/job/{job.id}/action", data={"csrf_token": token,
                              "action": "pause"}, headers=HTML)  # fmt: skip
        assert pause.status_code == 401, pause.text[:300]
    assert Job.find(job.id).state == "queued"
    actions = audit_actions()
    assert ("oper", "logout", "oper", "ok") in actions
    assert not [a for a in actions if a[1] == "pause"]


def test_idle_timeout_and_absolute_lifetime(store_url: str) -> None:
    clock = FakeClock()
    with live_server(config(store_url, session_idle_minutes=30), clock) as base:
        idle = logged_in(base, "viewer")
        clock.advance(minutes=29)
        assert idle.get("/jobs/failed").status_code == 200  # used: idle time starts again
        clock.advance(minutes=29)
        assert idle.get("/jobs/failed").status_code == 200
        clock.advance(minutes=31)
        assert idle.get("/jobs/failed").status_code == 401
        busy = logged_in(base, "viewer")
        for _ in range(12 * 3):  # used every 20 minutes for 12 hours
            assert busy.get("/jobs/failed").status_code == 200
            clock.advance(minutes=20)
        assert busy.get("/jobs/failed").status_code == 401


def test_password_change_ends_the_users_sessions(store_url: str) -> None:
    with live_server(config(store_url)) as base:
        boss, oper = logged_in(base, "boss"), logged_in(base, "oper")
        cookies = httpx.Cookies(boss.cookies), httpx.Cookies(oper.cookies)
    changed = users_table()
    changed[2] = {**changed[2], "password_hash": users_table()[0]["password_hash"]}
    assert changed[2]["name"] == "boss"
    with live_server({**config(store_url), "web": {"users": changed}}) as base:
        assert replay(base, cookies[0]).get("/jobs/failed").status_code == 401
        assert replay(base, cookies[1]).get("/jobs/failed").status_code == 200


def test_sign_out_everywhere_ends_every_session_in_every_process(
    store_url: str, tmp_path: Path
) -> None:
    """Two servers on one store: this process's and a ``rocketjob web`` process."""
    path = write_config(tmp_path / "web.toml", store_url, {"users": users_table()})
    env = {"ROCKETJOB_WEB_SECRET": "test-secret-key"}
    with live_server(config(store_url)) as first, cli_server(path, env) as second:
        viewer, oper = logged_in(first, "viewer"), logged_in(second, "oper")
        assert replay(second, viewer.cookies).get("/jobs/failed").status_code == 200
        assert not [a for a in audit_actions() if a[1] == "sign out everywhere"]
        refused = post_end_all(logged_in(second, "oper"))
        assert refused.status_code == 403  # operators cannot
        boss = logged_in(first, "boss")
        assert "Sign out everywhere" in boss.get("/audit", headers=HTML).text
        no_token = boss.post("/sessions/end-all", data={}, headers=HTML)
        assert no_token.status_code == 403  # CSRF-checked
        done = post_end_all(boss)
        assert done.status_code == 303 and done.headers["location"] == "/login"
        for http, base in ((viewer, first), (oper, second), (boss, first)):
            assert replay(base, http.cookies).get("/jobs/failed").status_code == 401
    user, action, target, outcome = audit_actions()[0]
    assert (user, action, target, outcome) == ("boss", "sign out everywhere", "all sessions", "ok")


def post_end_all(http: httpx.Client) -> httpx.Response:
    token = page_token(http, "/audit")
    return http.post("/sessions/end-all", data={"csrf_token": token}, headers=HTML)
