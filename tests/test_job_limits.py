"""Limits on job size (issue 16 item 8): ``[store] max_job_bytes`` and the nesting depth
limit give a clear ValidationError naming the limit, and nothing is stored, on every store."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

import rocketjob
from rocketjob import Job, ValidationError, codec, config, sizes
from rocketjob.control import ServerCommand
from rocketjob.store import JobQuery
from rocketjob.worker import Worker
from tests.jobs import NoopJob
from tests.store.conftest import _drop, make_env, require_service
from tests.support import wait_until


class GrowJob(Job):
    """Returns ``size`` characters: a small job with a large result."""

    collect_output = True

    def perform(self, size: int) -> str:
        return "z" * size


@pytest.fixture(params=["sqlite", "postgres", "mongodb"])
def engine(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[str]:
    """This process connected to a fresh store of each kind."""
    require_service(request.param)
    env, name = make_env(request.param, tmp_path)
    rocketjob.connect(env.url)
    try:
        yield request.param
    finally:
        rocketjob.disconnect()
        sizes.configure(sizes.DEFAULT_MAX_JOB_BYTES)
        _drop(request.param, name)


def stored() -> list[str]:
    return [doc["id"] for doc in rocketjob.current_store().find_jobs(JobQuery(limit=None))]


def nested(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_a_job_over_16_mib_is_refused_and_nothing_stored(engine: str) -> None:
    with pytest.raises(ValidationError, match=r"max_job_bytes") as info:
        NoopJob.perform_later("x" * (16 * 1024 * 1024 + 1))
    assert "16,777,216-byte job size limit" in str(info.value)
    assert stored() == []


def test_a_bulk_enqueue_with_one_job_too_large_stores_none(engine: str) -> None:
    sizes.configure(10_000)
    with pytest.raises(ValidationError, match=r"item 2: .*max_job_bytes"):
        NoopJob.perform_all_later([("a",), ("b",), ("x" * 10_001,), ("d",)])
    assert stored() == []
    assert len(NoopJob.perform_all_later([("a",), ("b" * 9_000,)])) == 2


def test_nesting_past_the_limit_is_a_validation_error_not_a_recursion_error(engine: str) -> None:
    with pytest.raises(ValidationError, match=r"nesting depth limit") as info:
        NoopJob.perform_later(nested(1000))
    assert f"more than {codec.MAX_DEPTH} levels" in str(info.value)
    with pytest.raises(ValidationError, match=r"nesting depth limit"):
        NoopJob.perform_all_later([(1,), (nested(1000),)])
    with pytest.raises(ValidationError, match=r"nesting depth limit"):
        NoopJob.perform_later(tuple(nested(150)))
    assert stored() == []
    job = NoopJob.perform_later(nested(codec.MAX_DEPTH - 2))  # args + list + value: at the limit
    assert Job.find(job.id).arguments["args"][0] == nested(codec.MAX_DEPTH - 2)


def test_a_result_over_the_limit_fails_the_job_naming_the_limit(engine: str) -> None:
    settings = config.from_dict({
        "store": {"max_job_bytes": 2_000},
        "worker": {"threads": 2, "imports": [__name__], "include": [f"{__name__}.*"],
                   "heartbeat_seconds": 1, "zombie_seconds": 3},
    })  # fmt: skip
    worker = Worker.boot(settings, store=rocketjob.current_store())
    assert sizes.max_job_bytes() == 2_000, "the worker uses its configuration's limit"
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        job = GrowJob.perform_later(1_000)
        big = GrowJob.perform_later(3_000)  # a small job whose result is too large
        wait_until(lambda: Job.find(job.id).state == "completed", 15)
        done = wait_until(lambda: Job.find(big.id).state == "failed" and Job.find(big.id), 15)
    finally:
        worker.request(ServerCommand.STOP)
        thread.join(15)
    assert done.exception is not None
    assert done.exception.class_name == "rocketjob.errors.ValidationError"
    assert "the job's result take" in done.exception.message
    assert "max_job_bytes" in done.exception.message


def test_max_job_bytes_must_be_positive() -> None:
    with pytest.raises(rocketjob.ConfigError, match=r"store.max_job_bytes"):
        config.from_dict({"store": {"max_job_bytes": 0}})
    with pytest.raises(rocketjob.ConfigError, match=r"store.max_job_bytes"):
        config.from_dict({"store": {"max_job_bytes": "big"}})
