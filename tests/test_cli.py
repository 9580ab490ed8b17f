"""The ``rocketjob`` command, as real processes on a real SQLite file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import rocketjob
from rocketjob import Job
from tests.conftest import REPO
from tests.jobs import AppendJob, FailJob, NoopJob
from tests.support import wait_until

ROCKETJOB = [sys.executable, "-m", "rocketjob"]


def run_cli(
    *args: str, env: dict | None = None, timeout: float = 30
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*ROCKETJOB, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def write_config(path: Path, url: str, **worker: object) -> Path:
    lines = [f'[store]\nurl = "{url}"\n', "[supervisor]\ndrain_timeout = 5\n", "[worker]"]
    settings = {"threads": 4, "imports": ["tests.jobs"], "heartbeat_seconds": 1,
                "zombie_seconds": 5, **worker}  # fmt: skip
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def daemon_config(tmp_path: Path, sqlite_url: str) -> Path:
    return write_config(tmp_path / "rocketjob.toml", sqlite_url)


class Daemon:
    """A real ``rocketjob -c FILE`` process in its own process group."""

    def __init__(self, config: Path) -> None:
        self.proc = subprocess.Popen(
            [*ROCKETJOB, "-c", str(config)], cwd=REPO, start_new_session=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(20)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
            if self.proc.stdout:
                self.proc.stdout.close()


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.stop()


def test_python_dash_m_and_help() -> None:
    result = run_cli("--help")
    assert result.returncode == 0 and "jobs" in result.stdout


def test_check_validates_and_exits(daemon_config: Path) -> None:
    result = run_cli("-c", str(daemon_config), "--check")
    assert result.returncode == 0 and "is valid" in result.stdout


def test_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[worker]\nthreads = "many"\n')
    result = run_cli("-c", str(bad), "--check")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "rocketjob: error: worker.threads: expected an integer, got 'many'"
    )
    bad.write_text("[worker]\ncolour = 1\n")
    result = run_cli("-c", str(bad))
    assert result.returncode == 2 and "worker.colour: unknown key" in result.stderr


def test_module_that_fails_to_import_exits_3_naming_it(tmp_path: Path, sqlite_url: str) -> None:
    config = write_config(tmp_path / "c.toml", sqlite_url, imports=["tests.no_such_jobs"])
    result = run_cli("-c", str(config))
    assert result.returncode == 3
    assert "tests.no_such_jobs" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unreachable_store_exits_4(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", f"sqlite:///{tmp_path}/missing/dir/jobs.db")
    result = run_cli("-c", str(config))
    assert result.returncode == 4
    assert "does not exist" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_daemon_runs_a_job_and_drains_on_term(daemon_config: Path, daemons: list[Daemon]) -> None:
    daemons.append(Daemon(daemon_config))
    job = FailJob.perform_later("from the daemon")
    wait_until(lambda: job.reload().failed, timeout=20)
    assert job.exception.message == "from the daemon"
    assert daemons[0].stop() == 0


def test_jobs_commands(daemon_config: Path, sqlite_url: str) -> None:
    failed = FailJob.perform_later()
    failed.fail(RuntimeError("bad row"))
    queued = NoopJob.perform_later("x")
    env = {"ROCKETJOB_STORE": sqlite_url}
    listing = run_cli("jobs", "list", "--json", env=env)
    assert listing.returncode == 0
    rows = json.loads(listing.stdout)
    assert {row["id"] for row in rows} == {failed.id, queued.id}
    assert next(r for r in rows if r["id"] == queued.id)["runnable"] is False  # no live server
    only_failed = json.loads(run_cli("jobs", "list", "--state", "failed", "--json", env=env).stdout)
    assert [row["id"] for row in only_failed] == [failed.id]
    text = run_cli("jobs", "list", "-c", str(daemon_config)).stdout
    assert "no live server runs this class" in text and failed.id in text
    shown = json.loads(run_cli("jobs", "show", failed.id, "--json", env=env).stdout)
    assert shown["exception"]["message"] == "bad row"
    assert run_cli("jobs", "retry", failed.id, env=env).returncode == 0
    assert failed.reload().queued
    again = run_cli("jobs", "retry", failed.id, env=env)
    assert again.returncode == 1 and f"cannot retry job {failed.id}: it is queued" in again.stderr
    for action, state in (("pause", "paused"), ("resume", "queued"), ("abort", "aborted")):
        assert run_cli("jobs", action, queued.id, env=env).returncode == 0
        assert queued.reload().state == state
    assert run_cli("jobs", "destroy", queued.id, env=env).returncode == 0
    missing = run_cli("jobs", "show", queued.id, env=env)
    assert missing.returncode == 1 and "no job with id" in missing.stderr


@pytest.mark.slow
def test_two_daemons_on_one_file_run_300_jobs_exactly_once(
    tmp_path: Path, daemon_config: Path, daemons: list[Daemon]
) -> None:
    ran = tmp_path / "ran.txt"
    daemons.extend([Daemon(daemon_config), Daemon(daemon_config)])
    wait_until(lambda: len(rocketjob.current_store().list_servers()) >= 2, timeout=30)
    jobs = AppendJob.perform_all_later([(str(ran), 0.002)] * 300)
    wait_until(lambda: Job.counts_by_state() == {}, timeout=60)
    lines = ran.read_text().split("\n")[:-1]
    ids = [line.split()[0] for line in lines]
    assert sorted(ids) == sorted(job.id for job in jobs)  # each exactly once
    pids = {line.split()[1] for line in lines}
    assert len(pids) >= 2, "both daemons took part"
    assert [d.stop() for d in daemons] == [0, 0]
    assert rocketjob.current_store().list_servers() == []


def test_store_commands_need_no_secrets_but_the_daemon_does(
    tmp_path: Path, sqlite_url: str
) -> None:
    config = write_config(tmp_path / "c.toml", sqlite_url)
    config.write_text(
        config.read_text()
        + '\n[[appenders]]\ntype = "newrelic"\nlicense_key_env = "RJ_TEST_NR_KEY"\n'
        'url = "http://127.0.0.1:9/log/v1"\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "RJ_TEST_NR_KEY"}
    listing = subprocess.run(
        [*ROCKETJOB, "-c", str(config), "jobs", "list"], cwd=REPO, capture_output=True,
        text=True, timeout=30, env=env,
    )  # fmt: skip
    assert listing.returncode == 0, listing.stderr
    check = subprocess.run(
        [*ROCKETJOB, "-c", str(config), "--check"], cwd=REPO, capture_output=True, text=True,
        timeout=30, env=env,
    )  # fmt: skip
    assert check.returncode == 2 and "appenders[0].license_key_env" in check.stderr
