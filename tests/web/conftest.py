"""Fixtures of the Mission Control tests: an app on a fresh SQLite store, clients per role."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
from starlette.testclient import TestClient  # noqa: E402

import rocketjob  # noqa: E402
from rocketjob.config import from_dict  # noqa: E402
from rocketjob.web import create_app  # noqa: E402
from rocketjob.web.passwords import hash_password  # noqa: E402

#: name -> (password, role); hashed once per session (scrypt is slow on purpose).
USERS = {
    "viewer": ("view-pw", "view"),
    "oper": ("oper-pw", "operator"),
    "boss": ("boss-pw", "admin"),
}
_HASHES: dict[str, str] = {}
HTML = {"accept": "text/html"}


def users_table() -> list[dict[str, str]]:
    """[[web.users]] for USERS."""
    for name, (password, _) in USERS.items():
        if name not in _HASHES:
            _HASHES[name] = hash_password(password, n=2**12)
    return [{"name": n, "password_hash": _HASHES[n], "role": r} for n, (_, r) in USERS.items()]


@pytest.fixture
def store_url(tmp_path: Path) -> Iterator[str]:
    """A fresh SQLite store, connected for this process."""
    url = f"sqlite:///{tmp_path / 'web.db'}"
    rocketjob.connect(url)
    yield url
    rocketjob.disconnect()


AppFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(store_url: str) -> Iterator[AppFactory]:
    """``make_client(web={...}, peer="127.0.0.1")``: a TestClient (lifespan running) on
    the store, its requests coming from ``peer``."""
    clients: list[TestClient] = []

    def make(
        web: dict[str, Any] | None = None, *, peer: str = "testclient", **extra: Any
    ) -> TestClient:
        config = from_dict({
            "store": {"url": store_url}, "web": web or {},
            "worker": {"imports": ["tests.web.webjobs"]}, **extra,
        })  # fmt: skip
        client = TestClient(create_app(config), follow_redirects=True, client=(peer, 50000))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: AppFactory) -> TestClient:
    """No authentication configured: the local admin."""
    return make_client()


@pytest.fixture
def auth_client(make_client: AppFactory) -> TestClient:
    """Users configured; not logged in yet."""
    return make_client({"users": users_table()})


def csrf(client: TestClient, path: str = "/login") -> str:
    """The CSRF token rendered in a page's forms."""
    page = client.get(path, headers=HTML)
    match = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert match, f"no CSRF token on {path}: {page.status_code} {page.text[:300]}"
    return match.group(1)


def login(client: TestClient, name: str) -> None:
    """Log in as one of USERS."""
    token = csrf(client, "/login")
    response = client.post(
        "/login", data={"csrf_token": token, "name": name, "password": USERS[name][0]},
        headers=HTML,
    )  # fmt: skip
    assert response.status_code == 200 and f"{name} · " in response.text, response.text[:500]


def flashes(html: str) -> list[str]:
    """The flash messages of a page."""
    found = re.findall(r'<p class="flash[^"]*" role="status">([^<]*)</p>', html)
    return [unescape(message) for message in found]


def post(client: TestClient, path: str, data: dict[str, Any], token_from: str = "/") -> Any:
    """POST a form with a valid CSRF token taken from ``token_from``."""
    return client.post(path, data={"csrf_token": csrf(client, token_from), **data}, headers=HTML)
