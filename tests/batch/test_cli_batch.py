"""``rocketjob batch upload | download | failed``: real ``rocketjob`` processes on a real
SQLite file; the slices are run by an in-process worker in between."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
from pathlib import Path

import pytest

from rocketjob import Job
from tests.batch.jobs import PickyJob
from tests.conftest import running_worker
from tests.support import wait_until
from tests.test_cli import REPO, ROCKETJOB, run_cli, write_config

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


def _read_all(fd: int) -> bytes:
    """Everything written to the terminal ``fd`` until its last writer closed it."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side of the terminal is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_upload_shows_its_progress_on_a_terminal(tmp_path: Path, config: Path) -> None:
    rows = 600_000  # long enough (over 0.2 s) for at least one progress line before the end
    source = tmp_path / "in.csv"
    with open(source, "w") as out:
        out.write("n,name\n")
        out.writelines(f"{n},x{n}\n" for n in range(1, rows + 1))
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [*ROCKETJOB, "batch", "upload", "tests.batch.jobs.SquareJob", str(source),
         "-c", str(config)],
        cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal,
    )  # fmt: skip
    os.close(terminal)
    try:
        shown = _read_all(controller).decode()
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(controller)
    assert proc.returncode == 0, shown
    assert f"{rows} records in {rows // 10} slices" in out.decode()
    assert shown.endswith("\r\n"), "the final line ends the line (the terminal adds \\r)"
    lines = shown.replace("\x1b[K", "").removesuffix("\r\n").split("\r")
    progress = [line for line in lines if line.startswith("uploading: ")]
    assert progress, f"no progress line in {shown!r}"
    counts = [int(re.match(r"uploading: ([\d,]+) records", line)[1].replace(",", ""))
              for line in progress]  # fmt: skip
    assert counts == sorted(counts) and 0 < counts[-1] <= rows
    final = lines[-1]
    assert re.fullmatch(rf"uploaded: {rows:,} records \([\d,]+/s, [\d.]+ s\)", final), final
