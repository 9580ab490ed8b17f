"""The README's commands work as written."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import rocketjob
from rocketjob import Job
from tests.conftest import REPO
from tests.support import wait_until


def test_readme_names_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text()
    assert "bin/quickstart" in readme and "bin/setup-dev && bin/test" in readme
    ci = (REPO / ".ci" / "run").read_text()
    assert "bin/setup-dev" in ci and "bin/test" in ci


def test_quickstart_shows_every_example_complete(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "examples.quickstart", "--workdir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "future-dated job scheduled: True" in out
    assert "CalculateJob result:         completed, result = 42" in out
    assert "FailingJob:                  failed: <JobException RuntimeError: bad input>" in out
    for label in ("fire-and-forget", "high-priority", "future-dated", "retained"):
        assert f"{label} ImportJob:".ljust(29) + "completed" in out
    assert (tmp_path / "rocketjob.db").exists()


def _readme_block(after: str, language: str) -> str:
    """The first ``language`` code block of the README after the line ``after``."""
    readme = (REPO / "README.md").read_text()
    start = readme.index(after)
    match = re.search(rf"```{language}\n(.*?)```", readme[start:], re.S)
    assert match, f"no {language} block after {after!r}"
    return match.group(1)


def test_hand_run_quick_start_runs_as_written(tmp_path: Path) -> None:
    """Terminal 1's daemon and terminal 2's snippet, as the README shows them (run from a
    copy of the layout they expect: conf/development.toml and examples/ beside the cwd):
    every job the snippet enqueues ends completed, none failed."""
    daemon_line = next(
        line for line in _readme_block("## Quick start", "bash").splitlines()
        if "terminal 1" in line
    )  # fmt: skip
    command = shlex.split(daemon_line.split("#")[0])
    assert command[:1] == [".venv/bin/rocketjob"], command
    snippet = _readme_block("In terminal 2", "python")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("ROCKETJOB_STORE", None)
    (tmp_path / "conf").mkdir()
    shutil.copy(REPO / "conf" / "development.toml", tmp_path / "conf")
    rocketjob_cmd = [sys.executable, "-m", "rocketjob", *command[1:]]
    daemon = subprocess.Popen(rocketjob_cmd, cwd=tmp_path, env=env, start_new_session=True)
    try:
        ran = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        assert ran.returncode == 0, ran.stderr[-2000:]
        store = rocketjob.connect(f"sqlite:///{tmp_path / 'rocketjob.db'}")
        # Left: the job scheduled in 2 hours and the retained CalculateJob; the
        # ImportJobs (destroyed on completion) all ran: none failed.
        wait_until(lambda: store.count_jobs() == {"queued": 1, "completed": 2}, timeout=60)
        failed = [job.status() for job in Job.where("failed")]
        assert not failed, failed
    finally:
        rocketjob.disconnect()
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(30)
