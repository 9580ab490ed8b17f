"""Private database servers for fault tests: started, stopped and restarted at will.

* :class:`PrivatePostgres`: a throw-away cluster made with ``initdb`` (run as the
  ``postgres`` user when the tests run as root) on a free port, stopped with
  ``pg_ctl -m fast`` (what a restart does to clients).
* :class:`PrivateMongo`: a SecantusDB process (from ``bin/setup.d/mongodb``) on a free
  port with its own data folder, so data survives a stop and start.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import wait_until

REPO = Path(__file__).resolve().parents[2]
SECANTUS = REPO / ".services" / "secantus-venv" / "bin" / "secantusd-py"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout: float) -> None:
    def listens() -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            return sock.connect_ex(("127.0.0.1", port)) == 0

    wait_until(listens, timeout=timeout, what=f"a listener on 127.0.0.1:{port}", interval=0.05)


class PrivatePostgres:
    """A private PostgreSQL cluster on a free port, trust auth, superuser ``root``."""

    kind = "postgres"

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        self.bindir = Path(found[-1]).parent if found else None
        self.port = free_port()
        self.datadir = Path(tempfile.mkdtemp(prefix="rj-pg-"))
        self.url = (
            f"postgresql://root@127.0.0.1:{self.port}/postgres"
            "?connect_timeout=2&pool_timeout=3&statement_timeout=5000"
        )

    def missing(self) -> str | None:
        """Why this server cannot run here, or None."""
        if self.bindir is None:
            return "PostgreSQL server binaries (initdb) are not installed"
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "running as root without a postgres user to run initdb"
        return None

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)

    def start(self) -> None:
        """Create the cluster on first use, then start it and wait until it listens."""
        if not (self.datadir / "PG_VERSION").exists():
            if os.geteuid() == 0:
                shutil.chown(self.datadir, "postgres", "postgres")
            self._run("initdb", "-D", str(self.datadir), "-A", "trust", "-U", "root", "-N")
        options = f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.datadir), "-o", options, "-w", "-t", "30", "-l",
                  str(self.datadir / "log"), "start")  # fmt: skip
        _wait_port(self.port, 30)

    def stop(self) -> None:
        """Stop fast: clients are disconnected at once, as in a restart."""
        self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "-t", "30", "stop")

    def destroy(self) -> None:
        """Stop (if running) and delete the cluster."""
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.datadir, ignore_errors=True)


class PrivateMongo:
    """A private SecantusDB server on a free port with its own data folder."""

    kind = "mongodb"

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.datadir = Path(tmp_path) / "secantus-data"
        self.url = f"mongodb://127.0.0.1:{self.port}/rj_faults?serverSelectionTimeoutMS=2000"
        self.process: subprocess.Popen[bytes] | None = None

    def missing(self) -> str | None:
        """Why this server cannot run here, or None."""
        if not SECANTUS.exists():
            return f"SecantusDB is not installed at {SECANTUS}; run bin/setup.d/mongodb"
        return None

    def start(self) -> None:
        """Start the server and wait until it listens."""
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [str(SECANTUS), "--host", "127.0.0.1", "--port", str(self.port),
             "--storage-path", str(self.datadir), "--log-level", "ERROR"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_port(self.port, 30)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def destroy(self) -> None:
        """Stop the server; its data folder goes with tmp_path."""
        self.stop()


@contextlib.contextmanager
def running(server: Any) -> Iterator[Any]:
    """Start a private server for one test and destroy it after; skip the test when the
    server cannot be had here (fail it when CI=true)."""
    from tests.store.conftest import IN_CI

    reason = server.missing()
    if reason:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    server.start()
    try:
        yield server
    finally:
        server.destroy()
