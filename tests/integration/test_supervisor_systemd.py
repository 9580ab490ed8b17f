"""systemd integration with a real supervisor: sd_notify on a test unix datagram socket
(path and abstract namespace), the watchdog, the pidfile, and the shipped unit and
production config."""

from __future__ import annotations

import configparser
import os
import signal
import socket
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from rocketjob import config as config_module
from tests.conftest import REPO
from tests.integration.helpers import Daemon, write_config
from tests.support import wait_until

pytestmark = pytest.mark.slow


class NotifySocket:
    """A unix datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.address = address
        self.messages: list[str] = []

    def wait_for(self, line: str, count: int = 1, timeout: float = 10.0) -> list[str]:
        """Receive until ``count`` datagrams hold ``line``; every message so far."""
        deadline = time.monotonic() + timeout
        while self.count(line) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"not {count} {line!r} within {timeout}s: {self.messages}")
            self.sock.settimeout(remaining)
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
        return self.messages

    def count(self, line: str) -> int:
        """How many datagrams so far hold ``line``."""
        return sum(line in message.splitlines() for message in self.messages)


@pytest.fixture(params=["path", "abstract"])
def notify_socket(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NotifySocket]:
    address = f"@rocketjob-test-{os.getpid()}" if request.param == "abstract" else ""
    receiver = NotifySocket(address or str(tmp_path / "notify.sock"))
    yield receiver
    receiver.sock.close()


def test_sd_notify_ready_status_reloading_stopping_watchdog_and_pidfile(
    tmp_path: Path, url: str, daemons: list[Daemon], notify_socket: NotifySocket
) -> None:
    pidfile = tmp_path / "run" / "rocketjob.pid"
    config = write_config(tmp_path / "rj.toml", url, {"processes": 2, "pidfile": str(pidfile)})
    env = {"NOTIFY_SOCKET": notify_socket.address, "WATCHDOG_USEC": "400000"}
    daemons.append(daemon := Daemon(config, env=env))
    messages = notify_socket.wait_for("READY=1")
    assert len(daemon.wait_workers(2)) == 2  # READY=1 only once both workers are up
    assert any(line.startswith("STATUS=running") for m in messages for line in m.splitlines())
    assert pidfile.read_text().strip() == str(daemon.pid)
    notify_socket.wait_for("WATCHDOG=1", count=notify_socket.count("WATCHDOG=1") + 3, timeout=3)
    assert notify_socket.count("READY=1") == 1
    daemon.signal(signal.SIGHUP)
    notify_socket.wait_for("RELOADING=1")
    notify_socket.wait_for("READY=1", count=2, timeout=15)  # again once the workers are new
    daemon.signal(signal.SIGTERM)
    notify_socket.wait_for("STOPPING=1")
    assert daemon.wait() == 0
    assert not pidfile.exists()
    for child in daemon.workers():
        raise AssertionError(f"worker {child} left behind")


def test_a_pidfile_naming_a_live_supervisor_is_refused(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    pidfile = tmp_path / "rocketjob.pid"
    config = write_config(tmp_path / "rj.toml", url, {"pidfile": str(pidfile)})
    daemons.append(first := Daemon(config))
    wait_until(pidfile.exists)
    second = Daemon(config)
    assert second.wait() == 2 and "supervisor.pidfile" in second.log()
    assert pidfile.read_text().strip() == str(first.pid)
    assert first.stop() == 0 and not pidfile.exists()


def test_the_unit_file_and_production_config_agree(tmp_path: Path) -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(REPO / "systemd" / "rocketjob.service")
    service = unit["Service"]
    assert service["Type"] == "notify" and service["NotifyAccess"] == "main"
    assert service["KillMode"] == "mixed" and service["Restart"] == "on-failure"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert int(service["WatchdogSec"]) > 0
    data = tomllib.loads((REPO / "conf" / "production.toml").read_text())
    for entry in data["appenders"]:  # the log directory exists only on the server
        entry["path"] = str(tmp_path / Path(entry["path"]).name)
    production = config_module.from_dict(data, "conf/production.toml")
    stop_budget = production.supervisor.drain_timeout + production.logging.close_timeout
    assert int(service["TimeoutStopSec"]) > stop_budget
    assert production.supervisor.pidfile and production.supervisor.pidfile.startswith("/run/")
