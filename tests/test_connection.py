"""Which store a process talks to: a forked child opens its own, never the parent's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import rocketjob
from rocketjob import connection
from tests.jobs import NoopJob


@pytest.fixture
def connected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("_url", "_store", "_store_pid"):
        monkeypatch.setattr(connection, name, None)
    db = tmp_path / "rj.db"
    rocketjob.connect(f"sqlite:///{db}")
    yield db
    rocketjob.disconnect()


def test_a_forked_child_opens_its_own_store(connected: Path) -> None:
    parent_store = connection.current_store()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without the parent's cleanup
        try:
            child_store = connection.current_store()
            job = NoopJob.perform_later("from the child")
            report = f"{child_store is parent_store} {job.id}"
        except BaseException as exc:  # reported to the parent's assertion
            report = f"error {exc!r}"
        os.write(write_fd, report.encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        report = pipe.read()
    os.waitpid(pid, 0)
    same, job_id = report.split(" ", 1)
    assert same == "False", report
    assert connection.current_store() is parent_store  # the parent keeps its own
    assert NoopJob.find(job_id).arguments == {"args": ["from the child"], "kwargs": {}}
