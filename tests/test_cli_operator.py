"""The CLI as an operator reads it (issue 21), through real ``rocketjob`` processes:
``jobs show`` for people and ``--json`` for machines, ``jobs list`` with a scheduled job,
a reader that closes the pipe early, and ``--help``."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

from rocketjob import Job
from tests.conftest import REPO
from tests.jobs import FailJob, NoopJob

ROCKETJOB = [sys.executable, "-m", "rocketjob"]


def run_cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ROCKETJOB, *args], cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**os.environ, "ROCKETJOB_STORE": url},
    )  # fmt: skip


def _failed_job() -> Job:
    job = FailJob.perform_later("orders.csv", rows=3)
    try:
        raise RuntimeError("bad row 17")
    except RuntimeError as exc:
        job.fail(exc)
    return job


def test_jobs_show_reads_as_text_and_as_json(sqlite_url: str) -> None:
    job = _failed_job()
    shown = run_cli("jobs", "show", job.id or "", url=sqlite_url)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"tests.jobs.FailJob  {job.id}"
    fields = dict(line.split(None, 1) for line in lines[1:] if line.startswith("  ") and
                  not line.startswith("    ") and line.strip() != "backtrace:")  # fmt: skip
    assert fields["state"] == "failed"
    assert fields["arguments"] == '("orders.csv", rows=3)'
    assert fields["exception"] == "RuntimeError: bad row 17"
    failed_at = next(line for line in lines if line.startswith("  failed at "))
    assert failed_at.endswith("UTC (just now)") or failed_at.endswith(" s ago)")
    backtrace = lines[
        lines.index("  backtrace:") + 1 : lines.index("  failed attempts (last 1, oldest first):")
    ]
    attempt = lines[-1].split()
    assert attempt[:1] == ["1."] and attempt[-4:] == ["RuntimeError:", "bad", "row", "17"]
    assert backtrace[0] == "    Traceback (most recent call last):"
    assert backtrace[-1] == "    RuntimeError: bad row 17"  # one line each, not a JSON array

    as_json = run_cli("jobs", "show", job.id or "", "--json", url=sqlite_url)
    status = json.loads(as_json.stdout)
    assert status["id"] == job.id and status["state"] == "failed"
    assert status["exception"]["backtrace"][-1] == "RuntimeError: bad row 17"
    assert {"duration", "queued_for", "next_retry_at"} <= set(status)


def test_jobs_list_shows_a_scheduled_job_with_its_run_at(sqlite_url: str) -> None:
    run_at = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=2)
    scheduled = NoopJob.set(run_at=run_at).perform_later("later")
    ready = NoopJob.perform_later("now")
    listing = run_cli("jobs", "list", url=sqlite_url)
    assert listing.returncode == 0, listing.stderr
    header, *rows = listing.stdout.splitlines()
    assert header.split() == ["ID", "STATE", "PRI", "CLASS", "CREATED", "RUN", "AT", "WAITED",
                              "DURATION"]  # fmt: skip
    by_id = {row.split()[0]: row for row in rows}
    line = by_id[scheduled.id or ""]
    assert line.split()[1] == "scheduled"
    assert f"{run_at:%Y-%m-%d %H:%M:%S}" in line
    assert by_id[ready.id or ""].split()[1] == "queued"
    rows_json = json.loads(run_cli("jobs", "list", "--json", url=sqlite_url).stdout)
    flags = {row["id"]: (row["state"], row["scheduled"]) for row in rows_json}
    assert flags == {scheduled.id: ("queued", True), ready.id: ("queued", False)}


def test_a_closed_pipe_ends_jobs_list_quietly(sqlite_url: str) -> None:
    NoopJob.perform_all_later([(i,) for i in range(3000)])
    process = subprocess.Popen(
        [*ROCKETJOB, "jobs", "list", "--limit", "3000"], cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "ROCKETJOB_STORE": sqlite_url},
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()  # like `head -1`: read a line, then go away
    assert first.startswith(b"ID ")
    process.stdout.close()
    code = process.wait(60)
    stderr = process.stderr.read().decode()
    process.stderr.close()
    assert stderr == ""  # no BrokenPipeError traceback, no "Exception ignored"
    assert code == 141


def test_help_says_no_command_runs_the_daemon(sqlite_url: str) -> None:
    shown = run_cli("--help", url=sqlite_url)
    assert shown.returncode == 0
    text = " ".join(shown.stdout.split())
    assert "With no command, run the daemon: `rocketjob -c FILE`" in text
