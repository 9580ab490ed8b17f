"""A real Mission Control server for attack tests: uvicorn on 127.0.0.1 (an ephemeral
port, a socket bound before the server starts), in a thread of the test process so the
test shares its store and its fake clock; configured as ``rocketjob web`` configures
uvicorn (``proxy_headers`` off). Plus an httpx client that logs in through the form."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

import rocketjob
from rocketjob.config import from_dict
from rocketjob.store.base import MissionControlStore
from rocketjob.web import create_app
from tests.store.conftest import _drop, make_env, require_service
from tests.support import FakeClock, wait_until

HTML = {"accept": "text/html"}
REPO = Path(__file__).resolve().parents[2]


@contextmanager
def live_server(config: dict[str, Any], clock: FakeClock | None = None) -> Iterator[str]:
    """Serve ``create_app(from_dict(config))`` on 127.0.0.1; yields its base URL."""
    app = create_app(from_dict(config), now=(clock or FakeClock()).now)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(
        app, log_level="warning", proxy_headers=False, server_header=False, lifespan="on",
    ))  # fmt: skip
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()

    def started() -> bool:
        assert thread.is_alive(), "uvicorn exited"
        return bool(server.started)

    wait_until(started, timeout=20, what="uvicorn to start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def client(base: str, **kwargs: Any) -> httpx.Client:
    """An httpx client of the server (redirects not followed: tests look at them)."""
    return httpx.Client(base_url=base, timeout=10, follow_redirects=False, **kwargs)


def page_token(http: httpx.Client, path: str = "/login") -> str:
    """The CSRF token rendered in a page."""
    page = http.get(path, headers=HTML)
    match = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert match, f"no CSRF token on {path}: {page.status_code} {page.text[:300]}"
    return match.group(1)


def login_form(http: httpx.Client, name: str, password: str) -> httpx.Response:
    """POST the login form (with a fresh CSRF token)."""
    data = {"csrf_token": page_token(http), "name": name, "password": password}
    return http.post("/login", data=data, headers=HTML)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh SQLite or PostgreSQL store, connected for this process (overrides the web
    tests' SQLite-only fixture where imported)."""
    require_service(request.param)
    env, name = make_env(request.param, tmp_path)
    rocketjob.connect(env.url)
    try:
        yield env.url
    finally:
        rocketjob.disconnect()
        _drop(request.param, name)


def audit_actions(limit: int = 200) -> list[tuple[str, str, str, str]]:
    """``(user, action, target, outcome)`` of the store's audit log, newest first."""
    store = rocketjob.current_store()
    assert isinstance(store, MissionControlStore)
    entries = store.list_audit(limit)
    return [(e["user"], e["action"], e["target"], e["outcome"]) for e in entries]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path: Path, store_url: str, web: dict[str, Any]) -> Path:
    """A ``rocketjob web`` TOML file: the store, ``[web]`` (with ``[[web.users]]``)."""
    lines = ["[store]", f"url = {_toml_value(store_url)}", "", "[worker]",
             'imports = ["tests.web.webjobs"]', "", "[web]"]  # fmt: skip
    lines += [f"{k} = {_toml_value(v)}" for k, v in web.items() if k != "users"]
    for user in web.get("users", []):
        lines += ["", "[[web.users]]", *(f"{k} = {_toml_value(v)}" for k, v in user.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


@contextmanager
def cli_server(config: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """``rocketjob web -c CONFIG --bind 127.0.0.1:PORT`` as a real process; its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "rocketjob", "web", "-c", str(config), "--bind",
         f"127.0.0.1:{port}"], cwd=REPO, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:

        def answers() -> bool:
            try:
                httpx.get(base + "/login", timeout=2)
                return True
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                return False

        wait_until(answers, timeout=30, what="rocketjob web to start")
        yield base
    finally:
        process.terminate()
        process.wait(10)
        if process.stderr:
            process.stderr.close()
