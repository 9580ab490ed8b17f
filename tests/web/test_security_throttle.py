"""Issue 22, hole 3: no login throttling. 50 wrong passwords on the login form and 50 on
``/metrics`` Basic auth against a real server (uvicorn, httpx), then the right password:
now 5 x 401, then 429 with Retry-After, the right password refused until the delay has
passed; 20 failures lock the name out for ``lockout_minutes``; a name that does not exist
gets exactly the same answers. On SQLite and PostgreSQL (the counters live in the store)."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support import FakeClock
from tests.web.conftest import USERS, users_table
from tests.web.liveserver import (
    HTML,
    audit_actions,
    client,
    live_server,
    login_form,
    store_url,
)

__all__ = ["store_url"]


def config(store_url: str) -> dict[str, object]:
    return {"store": {"url": store_url},
            "web": {"users": users_table(), "lockout_minutes": 10}}  # fmt: skip


def basic(name: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


def form_attempt(http: httpx.Client, name: str, password: str) -> httpx.Response:
    return login_form(http, name, password)


def metrics_attempt(http: httpx.Client, name: str, password: str) -> httpx.Response:
    return http.get("/metrics", headers=basic(name, password))


ATTEMPTS = {"form": form_attempt, "basic": metrics_attempt}


@pytest.mark.parametrize("via", ["form", "basic"])
def test_fifty_wrong_passwords_then_the_right_one(store_url: str, via: str) -> None:
    attempt = ATTEMPTS[via]
    clock = FakeClock()
    with live_server(config(store_url), clock) as base:
        http = client(base)
        statuses = [attempt(http, "oper", f"guess-{i}").status_code for i in range(50)]
        assert statuses == [401] * 5 + [429] * 45
        refused = attempt(http, "oper", USERS["oper"][0])
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert "too many failed logins" in refused.text
        clock.advance(seconds=1)
        assert attempt(http, "oper", USERS["oper"][0]).status_code in (200, 303)
    throttled = [a for a in audit_actions() if a[1] == "login throttled"]
    assert ("oper", "login throttled", "user:oper", "refused") in throttled
    assert ("oper", "login throttled", "addr:127.0.0.1", "refused") in throttled


@pytest.mark.parametrize("via", ["form", "basic"])
def test_twenty_failures_lock_out_for_lockout_minutes(store_url: str, via: str) -> None:
    attempt = ATTEMPTS[via]
    clock = FakeClock()
    with live_server(config(store_url), clock) as base:
        http = client(base)
        for i in range(20):
            response = attempt(http, "boss", f"guess-{i}")
            assert response.status_code == 401, (i, response.status_code)
            clock.advance(seconds=300)  # wait out each delay (at most 300 s)
        clock.advance(seconds=-300)
        locked = attempt(http, "boss", USERS["boss"][0])
        assert locked.status_code == 429 and locked.headers["retry-after"] == "600"
        clock.advance(minutes=9, seconds=59)
        assert attempt(http, "boss", USERS["boss"][0]).status_code == 429
        clock.advance(seconds=1)
        assert attempt(http, "boss", USERS["boss"][0]).status_code in (200, 303)
    assert ("boss", "login locked out", "user:boss", "refused") in audit_actions()


def test_unknown_names_get_the_same_answers_and_count_per_address(store_url: str) -> None:
    clock = FakeClock()
    with live_server(config(store_url), clock) as base:
        http = client(base)
        ghost = [form_attempt(http, "ghost", f"g{i}").status_code for i in range(7)]
        clock.advance(minutes=30)  # both counters forgotten
        real = [form_attempt(http, "viewer", f"g{i}").status_code for i in range(7)]
        assert ghost == real == [401] * 5 + [429] * 2
        clock.advance(minutes=30)
        # Spraying names from one address: the address counter stops it.
        spray = [form_attempt(http, f"name{i}", "pw").status_code for i in range(7)]
        assert spray == [401] * 5 + [429] * 2
        page = form_attempt(http, "viewer", USERS["viewer"][0])
        assert page.status_code == 429 and "try again in" in page.text
        assert page.headers["retry-after"] == "1"
        assert http.get("/login", headers=HTML).status_code == 200


def test_parallel_guesses_cannot_skip_the_count(store_url: str) -> None:
    """50 guesses sent at once over 10 connections: still exactly 5 are checked."""
    with live_server(config(store_url), FakeClock()) as base:

        def guess(i: int) -> int:
            with client(base) as http:
                return metrics_attempt(http, "oper", f"guess-{i}").status_code

        with ThreadPoolExecutor(10) as pool:
            statuses = sorted(pool.map(guess, range(50)))
    assert statuses == [401] * 5 + [429] * 45
