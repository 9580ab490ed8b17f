"""DirmonJob, dirmon entries, HousekeepingJob and the cron / dirmon / bulk commands."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

import rocketjob
from rocketjob import ValidationError
from rocketjob.cli import main
from rocketjob.included import DirmonEntry, DirmonJob, HousekeepingJob
from tests.plugins import jobs

UPLOAD = "tests.plugins.jobs.UploadJob"


def test_dirmon_moves_settled_files_and_starts_one_job_each(
    sqlite_url: str, tmp_path: Path
) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    DirmonEntry.create("inbox", str(inbox / "*.csv"), UPLOAD, properties={"tag": "t1"})
    (inbox / "a.csv").write_text("a")
    (inbox / "b.txt").write_text("ignored")
    now = os.stat(inbox / "a.csv").st_mtime
    first = DirmonJob()
    assert first.perform(now=now) == 0  # just written: wait for a second look
    assert first.previous_file_names == {str(inbox / "a.csv"): 1}
    second = DirmonJob(previous_file_names=first.previous_file_names)
    assert second.perform(now=now + 1) == 1  # size unchanged: fully written
    [job] = jobs.UploadJob.where()
    assert job.tag == "t1" and Path(job.upload_file_name).read_text() == "a"
    assert Path(job.upload_file_name).parent == inbox / "_archive"
    assert not (inbox / "a.csv").exists() and (inbox / "b.txt").exists()
    (inbox / "old.csv").write_text("old")
    assert DirmonJob().perform(now=now + 3600) == 1  # older than settle_seconds


def test_bad_entries_are_reported_not_crashed_on(sqlite_url: str, tmp_path: Path) -> None:
    DirmonEntry.create("ghost", str(tmp_path / "missing" / "*"), UPLOAD)
    DirmonEntry.create("unknown", str(tmp_path / "*"), "nowhere.NoJob")
    DirmonEntry.create("nofield", str(tmp_path / "*"), "tests.plugins.jobs.NightJob")
    DirmonEntry.create("off", str(tmp_path / "missing" / "*"), UPLOAD, enabled=False)
    assert DirmonJob().perform() == 0
    errors = {e["name"]: e["last_error"] for e in DirmonEntry.all()}
    assert "does not exist" in errors["ghost"]
    assert "unknown job class 'nowhere.NoJob'" in errors["unknown"]
    assert "has no upload_file_name field" in errors["nofield"]
    assert errors["off"] is None


def test_entry_validation_and_allowed_roots(sqlite_url: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="absolute"):
        DirmonEntry.create("rel", "in/*.csv", UPLOAD)
    with pytest.raises(ValidationError, match="outside the allowed roots"):
        DirmonEntry.create("out", "/etc/*.conf", UPLOAD, roots=[str(tmp_path)])
    DirmonEntry.create("in", str(tmp_path / "x" / "*.csv"), UPLOAD, roots=[str(tmp_path)])
    with pytest.raises(ValidationError, match="exists"):
        DirmonEntry.create("in", str(tmp_path / "*.csv"), UPLOAD)
    assert DirmonEntry.disable("in") and not DirmonEntry.all()[0]["enabled"]
    assert DirmonEntry.enable("in") and DirmonEntry.remove("in")
    assert not DirmonEntry.remove("in")


def test_housekeeping_deletes_old_finished_jobs_in_batches(sqlite_url: str) -> None:
    store = rocketjob.current_store()
    kept = jobs.UploadJob.perform_later()
    old = [jobs.UploadJob.perform_later() for _ in range(5)]
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    for job in old[:3]:
        store.update_job(job.id, {"state": "completed", "completed_at": long_ago})
    store.update_job(old[3].id, {"state": "failed", "completed_at": long_ago})
    recent = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    store.update_job(old[4].id, {"state": "failed", "completed_at": recent})
    sweeper = type("SmallBatches", (HousekeepingJob,), {"batch_size": 2})()
    assert sweeper.perform() == {"completed": 3, "aborted": 0, "failed": 1}
    assert jobs.UploadJob.counts_by_state() == {"queued": 1, "failed": 1}
    assert kept.reload().queued
    assert HousekeepingJob.cron_schedule == "0 * * * *"


def _config(tmp_path: Path, url: str, roots: list[str] | None = None) -> str:
    path = tmp_path / "rj.toml"
    extra = f"[dirmon]\nroots = {json.dumps(roots)}\n" if roots else ""
    path.write_text(f'[store]\nurl = "{url}"\n[worker]\nimports = ["tests.plugins.jobs"]\n'
                    + extra)  # fmt: skip
    return str(path)


def test_cron_list_command(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, sqlite_url)
    jobs.TickJob.create()
    assert main(["cron", "list", "-c", config, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    tick = next(r for r in rows if r["job_class"].endswith("TickJob"))
    assert tick["cron_schedule"] == "* * * * *" and tick["instance_state"] == "queued"
    assert main(["cron", "list", "-c", config]) == 0
    assert "TickJob" in capsys.readouterr().out


def test_dirmon_and_bulk_commands(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, sqlite_url, roots=[str(tmp_path)])
    assert main(["dirmon", "add", "-c", config, "in", str(tmp_path / "*.csv"), UPLOAD,
                 "--property", "tag=\"x\""]) == 0  # fmt: skip
    assert main(["dirmon", "add", "-c", config, "bad", "/etc/*", UPLOAD]) == 2
    assert "outside the allowed roots" in capsys.readouterr().err
    assert main(["dirmon", "disable", "-c", config, "in"]) == 0
    capsys.readouterr()
    assert main(["dirmon", "list", "-c", config, "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["properties"] == {"tag": "x"} and entry["enabled"] is False
    assert main(["dirmon", "remove", "-c", config, "in"]) == 0
    assert main(["dirmon", "remove", "-c", config, "in"]) == 1
    for _ in range(2):
        jobs.UploadJob.perform_later()
    assert main(["jobs", "pause-all", "-c", config, UPLOAD]) == 0
    assert "2 tests.plugins.jobs.UploadJob job(s) moved" in capsys.readouterr().out
    assert jobs.UploadJob.counts_by_state() == {"paused": 2}
    assert main(["jobs", "resume-all", "-c", config, UPLOAD]) == 0
    assert jobs.UploadJob.counts_by_state() == {"queued": 2}
