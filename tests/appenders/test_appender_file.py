"""The file appender on real files: text and JSON lines, reopen, rotation and retention."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from appenders import Record
from appenders.file import FileAppender, FileOptions


def record(message: str, **extra: object) -> Record:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
    return Record(message, level="INFO", time=when, extra=dict(extra))


def test_text_lines_carry_time_level_message_fields_and_backtrace(tmp_path: Path) -> None:
    out = FileAppender(FileOptions(path=str(tmp_path / "a.log")))
    failed = record("job failed", job_id="j1")
    failed.exception = {"class_name": "KeyError", "message": "'x'", "backtrace": ["Trace", "K"]}
    out.emit_batch([record("hello", job_id="j1"), failed])
    out.close()
    assert (tmp_path / "a.log").read_text().splitlines() == [
        "2026-01-02T03:04:05.678+00:00 INFO     hello  job_id=j1",
        "2026-01-02T03:04:05.678+00:00 INFO     job failed  job_id=j1",
        "Trace",
        "K",
    ]


def test_json_lines_round_trip(tmp_path: Path) -> None:
    out = FileAppender(FileOptions(path=str(tmp_path / "a.log"), format="json"))
    out.emit(record("hello", job_id="j1", when=dt.date(2026, 1, 1)))
    out.close()
    (line,) = (tmp_path / "a.log").read_text().splitlines()
    data = json.loads(line)
    assert data["message"] == "hello"
    assert data["level"] == "INFO"
    assert data["time"] == "2026-01-02T03:04:05.678000+00:00"
    assert data["extra"] == {"job_id": "j1", "when": "2026-01-01"}


def test_reopen_follows_logrotate(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    out = FileAppender(FileOptions(path=str(path)))
    out.emit(record("before"))
    os.rename(path, tmp_path / "a.log.1")  # what logrotate does before it sends USR1
    out.reopen()
    out.emit(record("after"))
    out.close()
    assert "before" in (tmp_path / "a.log.1").read_text()
    assert "after" in path.read_text() and "before" not in path.read_text()


def test_rotation_by_size_keeps_retention_files(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    out = FileAppender(FileOptions(path=str(path), max_bytes=200, retention=2))
    for i in range(20):
        out.emit(record(f"message number {i:02d}"))  # ~60 bytes a line: 3 lines a file
    out.close()
    files = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock"))
    assert files == ["a.log", "a.log.1", "a.log.2"]
    assert all(p.stat().st_size <= 200 for p in tmp_path.glob("a.log*"))
    assert "message number 19" in path.read_text()
    assert "message number 00" not in "".join(p.read_text() for p in tmp_path.glob("a.log*"))


def test_rotation_by_time_with_injected_clock(tmp_path: Path) -> None:
    now = [7200.5]  # two hours and a bit after the epoch
    path = tmp_path / "a.log"
    out = FileAppender(FileOptions(path=str(path), rotate_every=3600.0), clock=lambda: now[0])
    out.emit(record("hour two"))
    now[0] = 10799.0
    out.emit(record("still hour two"))
    assert not (tmp_path / "a.log.1").exists()
    now[0] = 10800.0
    out.emit(record("hour three"))
    out.close()
    assert "still hour two" in (tmp_path / "a.log.1").read_text()
    assert "hour three" in path.read_text() and "hour two" not in path.read_text()


def test_a_file_rotated_by_another_process_is_reopened_not_rotated_again(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    options = FileOptions(path=str(path), max_bytes=100, retention=3)
    first, second = FileAppender(options), FileAppender(options)
    first.emit(record("x" * 60))
    second.emit(record("y" * 10))  # 'a.log' now over 100 bytes together
    first.emit(record("first rotates"))  # first renames a.log -> a.log.1
    second.emit(record("second follows"))  # second finds its file moved: reopens
    first.close()
    second.close()
    assert not (tmp_path / "a.log.2").exists()
    assert "second follows" in path.read_text() and "first rotates" in path.read_text()
