"""Issue 22, hole 4: ``proxy_auth_header`` trusted any client. Against real servers
(``rocketjob web`` processes, so uvicorn runs exactly as deployed, and uvicorn in the test
process): the header is believed only from ``trusted_proxies``, any other peer gets 403
(audited), ``X-Forwarded-For`` cannot make a client look like a proxy, unknown names get
no access unless ``proxy_default_role`` gives one, and proxy mode without
``trusted_proxies`` does not start (exit 2), on a non-loopback bind or any other."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest

from tests.web.conftest import users_table
from tests.web.liveserver import (
    HTML,
    REPO,
    audit_actions,
    cli_server,
    client,
    live_server,
    store_url,
    write_config,
)

__all__ = ["store_url"]
HEADER = "X-Forwarded-User"


def proxy_web(**extra: object) -> dict[str, object]:
    return {"proxy_auth_header": HEADER, "users": users_table(), **extra}


def test_header_from_a_client_that_is_not_a_trusted_proxy(store_url: str, tmp_path: Path) -> None:
    path = write_config(tmp_path / "web.toml", store_url,
                        proxy_web(trusted_proxies=["10.9.9.9"]))  # fmt: skip
    with cli_server(path) as base:
        http = client(base)
        for name in ("boss", "oper", "stranger"):
            page = http.get("/jobs/failed", headers={HEADER: name, **HTML})
            assert page.status_code == 403, (name, page.status_code)
            assert "only accepted from web.trusted_proxies" in page.text
        spoofed = {HEADER: "boss", "X-Forwarded-For": "10.9.9.9", "X-Real-IP": "10.9.9.9"}
        assert http.get("/jobs/failed", headers=spoofed).status_code == 403
        assert http.post("/jobs/failed", headers=spoofed).status_code in (403, 405)
        assert http.get("/jobs/failed").status_code == 401  # no header: not logged in
    refused = [a for a in audit_actions() if a[1] == "proxy header refused"]
    assert refused and refused[0][2:] == ("client 127.0.0.1", "refused")
    assert len(refused) == 1  # audited once per peer per minute, not per request


def test_header_from_a_trusted_proxy(store_url: str) -> None:
    config = {"store": {"url": store_url},
              "web": proxy_web(trusted_proxies=["127.0.0.0/8", "::1"])}  # fmt: skip
    with live_server(config) as base:
        http = client(base)
        assert "boss · admin" in http.get("/", headers={HEADER: "boss", **HTML}).text
        stranger = http.get("/", headers={HEADER: "stranger", **HTML})
        assert stranger.status_code == 403 and "proxy_default_role" in stranger.text
    config["web"] = proxy_web(trusted_proxies=["127.0.0.1"], proxy_default_role="view")
    with live_server(config) as base:
        page = client(base).get("/", headers={HEADER: "stranger", **HTML})
        assert page.status_code == 200 and "stranger · view" in page.text


def rocketjob_web(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rocketjob", "web", "-c", str(config), *args],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip


@pytest.mark.parametrize("bind", ["0.0.0.0:8099", "127.0.0.1:8099"])
def test_proxy_mode_without_trusted_proxies_does_not_start(tmp_path: Path, bind: str) -> None:
    path = write_config(tmp_path / "web.toml", f"sqlite:///{tmp_path / 'jobs.db'}",
                        {"proxy_auth_header": HEADER})  # fmt: skip
    result = rocketjob_web(path, "--bind", bind)
    assert result.returncode == 2
    assert "web.trusted_proxies: required when web.proxy_auth_header is set" in result.stderr


@pytest.mark.parametrize(
    ("web", "message"),
    [
        ({"trusted_proxies": ["10.0.0.300"]}, "web.trusted_proxies[0]: '10.0.0.300' is not an IP"),
        ({"trusted_proxies": ["ok", "x"]}, "web.trusted_proxies[0]: 'ok' is not an IP"),
        ({"trusted_proxies": "10.0.0.1"}, "web.trusted_proxies: expected a list"),
        ({"session_idle_minutes": 0}, "web.session_idle_minutes: must be between 1 and 1440"),
        ({"session_lifetime_hours": 1000}, "web.session_lifetime_hours: must be between"),
        ({"lockout_minutes": -1}, "web.lockout_minutes: must be between 1 and 1440, got -1"),
        ({"proxy_default_role": "root"}, "web.proxy_default_role: must be one of"),
    ],
)  # fmt: skip
def test_bad_security_settings_exit_2_naming_the_key(
    tmp_path: Path, web: dict[str, object], message: str
) -> None:
    path = write_config(tmp_path / "web.toml", f"sqlite:///{tmp_path / 'jobs.db'}", web)
    result = rocketjob_web(path)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_throttling_counts_the_client_behind_a_trusted_proxy(store_url: str) -> None:
    """Behind a trusted proxy, failures count against the X-Forwarded-For client the
    proxy added, so one attacker does not lock out everyone behind the proxy."""
    config = {"store": {"url": store_url},
              "web": {"users": users_table(), "trusted_proxies": ["127.0.0.1"]}}  # fmt: skip
    with live_server(config) as base:
        http = client(base)
        attacker = {"X-Forwarded-For": "203.0.113.1, 198.51.100.7"}
        for i in range(5):
            assert http.get("/metrics", headers={**attacker, **basic(f"n{i}")}).status_code == 401
        assert http.get("/metrics", headers={**attacker, **basic("n9")}).status_code == 429
        other = {"X-Forwarded-For": "198.51.100.8"}
        assert http.get("/metrics", headers={**other, **basic("n9")}).status_code == 401


def basic(name: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{name}:pw".encode()).decode()}
