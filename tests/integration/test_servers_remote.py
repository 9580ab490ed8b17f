"""Remote control through the store: ``rocketjob servers ...`` and ``rocketjob.Server``
against real running servers; include/exclude job-class filters per server."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from rocketjob import Job, Server
from tests.conftest import REPO
from tests.integration.helpers import ROCKETJOB, Daemon, heartbeats_after, write_config
from tests.integration.jobs import AppendJob, OtherJob
from tests.support import wait_until

pytestmark = pytest.mark.slow


def servers_cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``rocketjob servers ARGS`` against the test store."""
    return subprocess.run(
        [*ROCKETJOB, "servers", *args], cwd=REPO, capture_output=True, text=True, timeout=30,
        env={**os.environ, "ROCKETJOB_STORE": url},
    )  # fmt: skip


@pytest.mark.every_store
def test_list_pause_resume_thread_dump_and_stop(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    ran = tmp_path / "ran.txt"
    config = write_config(tmp_path / "rj.toml", url, {"processes": 2})
    daemons.append(daemon := Daemon(config))
    pids = daemon.wait_workers(2)
    listing = json.loads(servers_cli(url, "list", "--json").stdout)
    assert sorted(row["pid"] for row in listing) == pids
    for key in ("name", "host", "pid", "state", "started_at", "heartbeat_at", "threads", "busy"):
        assert all(key in row for row in listing)
    assert "running" in servers_cli(url, "list").stdout
    name = listing[0]["name"]
    sent = time.monotonic()
    assert servers_cli(url, "pause", name).returncode == 0
    wait_until(lambda: Server.find(name) and Server.find(name).state == "paused")  # type: ignore[union-attr]
    assert time.monotonic() - sent < 2 + 1.5  # CLI start-up + max_poll + a heartbeat
    assert servers_cli(url, "pause", "--all").returncode == 0
    wait_until(lambda: {s.state for s in Server.all()} == {"paused"})
    job = AppendJob.perform_later(str(ran), "remote")
    wait_until(heartbeats_after(dt.datetime.now(dt.UTC)))
    assert job.reload().queued
    assert servers_cli(url, "resume", "--all").returncode == 0
    wait_until(lambda: job.reload().completed)
    assert servers_cli(url, "thread-dump", name).returncode == 0
    daemon.wait_log("thread dump")
    stopped = Server.find(name)
    assert stopped is not None and servers_cli(url, "stop", name).returncode == 0
    # replaced (issue 16): the operator wanted that worker's threads back, not fewer
    wait_until(lambda: stopped.pid not in daemon.workers() and len(daemon.wait_workers(2)) == 2,
             15)  # fmt: skip
    missing = servers_cli(url, "kill", "nohost:1")
    assert missing.returncode == 1 and "no server named" in missing.stderr
    assert daemon.stop() == 0


@pytest.mark.every_store
def test_python_api_kill_replaces_even_the_last_server(
    tmp_path: Path, url: str, daemons: list[Daemon]
) -> None:
    config = write_config(tmp_path / "rj.toml", url, {"processes": 1})
    daemons.append(daemon := Daemon(config))
    daemon.wait_workers(1)
    (server,) = Server.all()
    assert server.threads == 2 and server.heartbeat_age() < 5
    assert server.to_dict()["started_at"] == server.started_at.isoformat()
    assert server.kill()
    (replacement,) = wait_until(lambda: [s for s in Server.all() if s.pid != server.pid], 15)
    assert daemon.proc.poll() is None, "the supervisor exits only on its own signals"
    assert replacement.pid in daemon.workers()
    assert daemon.stop() == 0
    assert Server.all() == []


@pytest.mark.every_store
def test_include_and_exclude_filters(tmp_path: Path, url: str, daemons: list[Daemon]) -> None:
    ran = tmp_path / "ran.txt"
    only_append = write_config(tmp_path / "a.toml", url, worker={"include": ["AppendJob"]})
    daemons.append(Daemon(only_append))
    daemons[0].wait_workers(1)
    (server,) = Server.all()
    assert server.info["job_classes"] == ["tests.integration.jobs.AppendJob"]
    other = OtherJob.perform_later(str(ran), "other")
    append = AppendJob.perform_later(str(ran), "append")
    wait_until(lambda: append.reload().completed)
    wait_until(heartbeats_after(dt.datetime.now(dt.UTC)))
    assert other.reload().queued
    not_append = write_config(
        tmp_path / "b.toml", url, worker={"exclude": ["tests.integration.jobs.AppendJob"]}
    )
    daemons.append(Daemon(not_append))
    wait_until(lambda: other.reload().completed)
    assert Job.counts_by_state() == {}
    assert [daemon.stop() for daemon in daemons] == [0, 0]
