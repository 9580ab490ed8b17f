"""``rocketjob web``: config validation, the loopback default, the refused open bind, and
``hash-password`` — real subprocesses of the ``rocketjob`` command."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from rocketjob.config import from_dict
from rocketjob.config.web import DEFAULT_BIND, WebConfig, is_loopback, load_web_config
from rocketjob.errors import ConfigError
from rocketjob.web.passwords import verify_password
from tests.support import wait_until

REPO = Path(__file__).resolve().parents[2]
ROCKETJOB = [sys.executable, "-m", "rocketjob"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(tmp_path: Path, web: str = "") -> Path:
    path = tmp_path / "web.toml"
    path.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "jobs.db"}"\n\n[web]\n{web}\n')
    return path


def run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ROCKETJOB, *args], capture_output=True, text=True, timeout=60, cwd=REPO, **kwargs
    )  # type: ignore[call-overload, no-any-return]


def test_default_bind_is_loopback() -> None:
    assert WebConfig().bind == DEFAULT_BIND == "127.0.0.1:8080"
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")


@pytest.mark.parametrize(
    ("web", "message"),
    [
        ({"bind": "nowhere"}, "web.bind: expected HOST:PORT"),
        ({"port": 1}, "web.port: unknown key"),
        ({"users": [{"name": "a", "password_hash": "plain", "role": "admin"}]},
         "web.users[0].password_hash: expected a scrypt$"),
        ({"users": [{"name": "a", "password_hash": "scrypt$x", "role": "god"}]},
         "web.users[0].role: must be one of view, operator, admin"),
        ({"users": [{"name": "a", "role": "view"}]}, "web.users[0].password_hash: missing"),
        ({"refresh_seconds": "soon"}, "web.refresh_seconds: expected a number"),
        ({"proxy_default_role": "root"}, "web.proxy_default_role: must be one of"),
    ],
)  # fmt: skip
def test_bad_web_config_names_the_key(web: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("$", r"\$")):
        from_dict({"web": web})
    with pytest.raises(ConfigError):
        load_web_config(web)


def test_refuses_non_loopback_bind_without_auth(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = run(["web", "-c", str(config), "--bind", "0.0.0.0:8099"])
    assert result.returncode == 2
    expected = "refusing to serve Mission Control on 0.0.0.0:8099 without authentication"
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    configured = write_config(tmp_path, 'bind = "192.0.2.1:8099"')
    result = run(["web", "-c", str(configured)])
    assert result.returncode == 2 and "web.bind: refusing" in result.stderr


def test_serves_on_loopback(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, f'bind = "127.0.0.1:{port}"')
    process = subprocess.Popen(
        [*ROCKETJOB, "web", "-c", str(config)], cwd=REPO, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "ROCKETJOB_WEB_SECRET": "test-secret"},
    )  # fmt: skip
    try:

        def answer() -> httpx.Response | None:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                return None

        response = wait_until(answer, timeout=20, what="rocketjob web to start")
        assert response.status_code == 200 and "Mission Control" in response.text
        assert response.headers["x-frame-options"] == "DENY"
        listening = [c for c in _listeners(process.pid) if c.laddr.port == port]
        assert listening and all(c.laddr.ip == "127.0.0.1" for c in listening)
    finally:
        process.terminate()
        process.wait(10)
        if process.stderr:
            process.stderr.close()


def _listeners(pid: int) -> list:
    import psutil

    return [c for c in psutil.Process(pid).net_connections(kind="inet") if c.status == "LISTEN"]


def test_hash_password_reads_stdin() -> None:
    result = run(["web", "hash-password"], input="s3cret\n")
    assert result.returncode == 0, result.stderr
    encoded = result.stdout.strip()
    assert encoded.startswith("scrypt$") and verify_password("s3cret", encoded)
    assert not verify_password("other", encoded)
    assert run(["web", "hash-password"], input="\n").returncode == 2
