"""A coroutine job is never run on a job thread, so it is never reported completed
without being awaited (the data-loss bug of issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rocketjob import Job
from rocketjob.aio.kinds import NotAwaitedError, coroutine_job_classes, is_coroutine_job
from rocketjob.executor import Executor
from rocketjob.job import class_path
from tests.aio.jobs import AsyncNote, ReturnsCoroutine, ThreadNote, read
from tests.integration.helpers import Daemon, write_config
from tests.support import wait_until

pytestmark = pytest.mark.usefixtures("sqlite_url")


def test_the_kind_of_a_job_class_is_known_from_the_class() -> None:
    assert is_coroutine_job(AsyncNote) and not is_coroutine_job(ThreadNote)
    paths = [class_path(AsyncNote), class_path(ThreadNote)]
    assert coroutine_job_classes(paths) == [class_path(AsyncNote)]


def test_a_thread_never_runs_a_coroutine_job_even_when_handed_one(tmp_path: Path) -> None:
    from rocketjob import current_store
    from rocketjob.clock import utcnow

    job = AsyncNote.perform_later(str(tmp_path / "out"), "a")
    store = current_store()
    [doc] = store.claim_jobs(["h:1:1"], [class_path(AsyncNote)], utcnow())
    Executor(store).run(doc)
    job.reload()
    assert job.failed and job.exception.class_name == "rocketjob.aio.kinds.NotAwaitedError"
    assert "async def perform" in job.exception.message
    assert read(tmp_path / "out") == []  # perform never started


def test_a_def_perform_returning_a_coroutine_fails_instead_of_completing(tmp_path: Path) -> None:
    from rocketjob import current_store
    from rocketjob.clock import utcnow

    job = ReturnsCoroutine.perform_later(str(tmp_path))
    store = current_store()
    [doc] = store.claim_jobs(["h:1:1"], [class_path(ReturnsCoroutine)], utcnow())
    Executor(store).run(doc)
    assert job.reload().failed and NotAwaitedError.__name__ in job.exception.class_name


@pytest.mark.slow
def test_a_real_worker_without_an_event_loop_never_claims_a_coroutine_job(
    tmp_path: Path, sqlite_url: str, daemons: list[Daemon]
) -> None:
    out = tmp_path / "out"
    coroutine = AsyncNote.perform_later(str(out), "async")
    thread = ThreadNote.perform_later(str(out), "thread")
    config = write_config(tmp_path / "rj.toml", sqlite_url, worker={
        "imports": ["tests.aio.jobs"], "threads": 2, "async_concurrency": 0})  # fmt: skip
    daemons.append(daemon := Daemon(config))
    wait_until(lambda: thread.reload().completed, timeout=30)
    daemon.wait_log("worker started")
    assert Job.find(coroutine.id or "").queued  # no thread took it; nothing completed it
    assert [line.split()[:2] for line in read(out)] == [["done", "thread"]]
