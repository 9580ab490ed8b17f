"""``rocketjob batch upload | download | failed``: real ``rocketjob`` processes on a real
SQLite file; the slices are run by an in-process worker in between."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rocketjob import Job
from tests.batch.jobs import PickyJob
from tests.conftest import running_worker
from tests.support import wait_until
from tests.test_cli import run_cli, write_config

IMPORTS = ("tests.batch.jobs",)


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str) -> Path:
    return write_config(tmp_path / "rocketjob.toml", sqlite_url, imports=list(IMPORTS))


def test_upload_run_download_and_failed_records(tmp_path: Path, config: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("n,name\n" + "".join(f"{n},x{n}\n" for n in range(1, 26)))
    done = run_cli("batch", "upload", "tests.batch.jobs.SquareJob", str(source),
                   "--priority", "7", "-c", str(config))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "25 records in 3 slices" in done.stdout
    job_id = done.stdout.split()[2].rstrip(":")
    job = Job.find(job_id)
    assert job.priority == 7 and job.queued
    with running_worker(threads=2, imports=IMPORTS):
        wait_until(lambda: job.reload().completed)
    out = tmp_path / "out.jsonl"
    done = run_cli("batch", "download", job_id, str(out), "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["n"] for line in out.read_text().splitlines()] == list(range(1, 26))


def test_failed_lists_each_failed_record(config: Path) -> None:
    job = PickyJob.upload(range(1, 9), bad=3)
    with running_worker(threads=2, imports=IMPORTS):
        wait_until(lambda: job.reload().failed)
    done = run_cli("batch", "failed", job.id, "--json", "-c", str(config))
    assert done.returncode == 0, done.stderr
    [row] = [json.loads(line) for line in done.stdout.splitlines()]
    assert (row["number"], row["record"]) == (3, 3)
    assert row["exception"]["class_name"] == "ValueError"
    text = run_cli("batch", "failed", job.id, "-c", str(config))
    assert text.stdout.strip() == "3: ValueError: bad record 3: 3"


def test_bad_class_and_bad_file_exit_2_with_one_line(tmp_path: Path, config: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("a,b\n1\n")
    done = run_cli("batch", "upload", "tests.jobs.NoopJob", str(source), "-c", str(config))
    assert done.returncode == 2 and "is not a BatchJob class" in done.stderr
    done = run_cli("batch", "upload", "tests.batch.jobs.SquareJob", str(source), "-c", str(config))
    assert done.returncode == 2 and "line 2: 1 fields" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert Job.counts_by_state() == {}
    missing = run_cli("batch", "download", "nope", str(tmp_path / "o.csv"), "-c", str(config))
    assert missing.returncode == 1 and "no job with id 'nope'" in missing.stderr
