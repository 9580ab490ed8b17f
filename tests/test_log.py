"""rocketjob.log: loguru routed to real appenders, job context, levels, stdlib, close."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import appenders
from rocketjob import config as config_module
from rocketjob.errors import ConfigError
from rocketjob.log import LogHandle, job_context, logger, setup_logging
from tests.appenders.receivers import HttpReceiver, closed_port
from tests.support import wait_until


class FakeJob:
    """What job_context reads from a job."""

    def __init__(self, log_level: str | None = None) -> None:
        self.id = "job-1"
        self.job_class = "app.jobs.ImportJob"
        self.worker_name = "host:1:thread-1"
        self.log_level = log_level


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    import rocketjob.log as log

    if log.active() is not None:
        log.active().close(1)  # type: ignore[union-attr]
    root.handlers[:], root.level = handlers, level
    # An appender thread a test abandoned (a hanging receiver) would log its failure into
    # the next test's appenders.
    wait_until(lambda: not [t for t in threading.enumerate() if t.name.startswith("appender:")])


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def json_file(tmp_path: Path, **more: Any) -> dict[str, Any]:
    return {"type": "file", "path": str(tmp_path / "app.log"), "format": "json", **more}


def test_worker_records_carry_job_context_and_backtrace(tmp_path: Path) -> None:
    handle = setup_logging("info", appenders.parse([json_file(tmp_path)]), role="worker")
    logger.info("outside", pid=1)
    with job_context(FakeJob()):
        logger.info("inside")
        try:
            raise KeyError("x")
        except KeyError:
            logger.exception("job failed")
    assert handle.close()
    outside, inside, failed = lines(tmp_path / "app.log")
    assert outside["extra"] == {"pid": 1}
    context = {
        "job_id": "job-1",
        "job_class": "app.jobs.ImportJob",
        "worker_name": "host:1:thread-1",
    }
    assert inside["extra"] == context
    assert failed["level"] == "ERROR" and failed["exception"]["class_name"] == "KeyError"
    assert any("raise KeyError" in line for line in failed["exception"]["backtrace"])


def test_job_log_level_applies_to_its_thread_only(tmp_path: Path) -> None:
    handle = setup_logging("info", appenders.parse([json_file(tmp_path)]), role="worker")
    logger.debug("before: hidden")
    in_job, release = threading.Event(), threading.Event()

    def other_thread() -> None:
        in_job.wait(5)
        logger.debug("other thread: hidden")
        release.set()

    t = threading.Thread(target=other_thread)
    t.start()
    with job_context(FakeJob(log_level="debug")):
        logger.debug("job: shown")
        in_job.set()
        release.wait(5)
    t.join(5)
    logger.debug("after: hidden")
    assert handle.close()
    assert [r["message"] for r in lines(tmp_path / "app.log")] == ["job: shown"]


def test_job_log_level_can_also_raise_the_bar(tmp_path: Path) -> None:
    handle = setup_logging("debug", appenders.parse([json_file(tmp_path)]), role="worker")
    with job_context(FakeJob(log_level="error")):
        logger.info("quiet job: hidden")
    logger.debug("outside: shown")
    assert handle.close()
    assert [r["message"] for r in lines(tmp_path / "app.log")] == ["outside: shown"]


def test_stdlib_logging_is_routed_at_its_level(tmp_path: Path) -> None:
    handle = setup_logging(
        "debug", appenders.parse([json_file(tmp_path)]), role="worker", stdlib_level="warning"
    )
    logging.getLogger("urllib3.connectionpool").info("below stdlib level")
    logging.getLogger("urllib3.connectionpool").warning("retrying %s", "x", extra={"n": 2})
    assert handle.close()
    (record,) = lines(tmp_path / "app.log")
    assert record["message"] == "retrying x"
    assert record["logger"] == "urllib3.connectionpool" and record["extra"] == {"n": 2}


def test_supervisor_runs_only_local_appenders_inline(tmp_path: Path) -> None:
    splunk = {"type": "splunk", "url": "http://127.0.0.1:9/e", "token_env": "RJ_TEST_TOKEN"}
    os.environ["RJ_TEST_TOKEN"] = "t"
    before = set(threading.enumerate())
    try:
        handle = setup_logging(
            "info", appenders.parse([json_file(tmp_path), splunk]), role="supervisor"
        )
    finally:
        del os.environ["RJ_TEST_TOKEN"]
    assert handle.drops() == {"file": 0}
    assert set(threading.enumerate()) <= before, "the supervisor must not start threads"
    logger.info("written at once")
    assert [r["message"] for r in lines(tmp_path / "app.log")] == ["written at once"]
    handle.close()


def test_no_appenders_means_text_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    handle = setup_logging("info", (), role="worker")
    logger.info("to stderr", k="v")
    assert handle.close()
    err = capsys.readouterr().err
    assert "INFO     to stderr  k=v" in err


def test_a_second_setup_replaces_the_first(tmp_path: Path) -> None:
    setup_logging("info", appenders.parse([json_file(tmp_path)]), role="supervisor")
    handle = setup_logging("info", appenders.parse([json_file(tmp_path)]), role="worker")
    logger.info("once")
    assert handle.close()
    assert [r["message"] for r in lines(tmp_path / "app.log")] == ["once"]


def test_reopen_after_logrotate(tmp_path: Path) -> None:
    handle = setup_logging("info", appenders.parse([json_file(tmp_path)]), role="worker")
    logger.info("first")
    assert handle.appenders[0].flush(5)
    os.rename(tmp_path / "app.log", tmp_path / "app.log.1")
    handle.reopen()  # done by the delivery thread at its next turn: it creates the file
    wait_until(lambda: (tmp_path / "app.log").exists())
    logger.info("second")
    assert handle.close()
    assert [r["message"] for r in lines(tmp_path / "app.log.1")] == ["first"]
    assert [r["message"] for r in lines(tmp_path / "app.log")] == ["second"]


def test_close_keeps_its_deadline_with_a_hanging_receiver(tmp_path: Path) -> None:
    hanging = HttpReceiver()
    hanging.hang = True
    os.environ["RJ_TEST_TOKEN"] = "t"
    try:
        splunk = {"type": "splunk", "url": hanging.url("/e"), "token_env": "RJ_TEST_TOKEN"}
        handle = setup_logging(
            "info", appenders.parse([json_file(tmp_path), splunk]), role="worker"
        )
        began = time.monotonic()
        for i in range(200):
            logger.info("job line", i=i)
        logged = time.monotonic() - began
        began = time.monotonic()
        assert not handle.close(timeout=1.0)
        took = time.monotonic() - began
    finally:
        del os.environ["RJ_TEST_TOKEN"]
        hanging.close()
    assert logged < 0.5, "a hanging receiver must not slow the callers"
    assert took < 1.5
    assert len(lines(tmp_path / "app.log")) == 200
    assert handle.drops()["splunk"] == 200 and handle.drops()["file"] == 0


def test_delivery_failures_reach_other_appenders_but_never_loop_back(tmp_path: Path) -> None:
    os.environ["RJ_TEST_TOKEN"] = "t"
    try:
        url = f"http://127.0.0.1:{closed_port()}/e"
        splunk = {"type": "splunk", "url": url, "token_env": "RJ_TEST_TOKEN", "max_retries": 0}
        handle: LogHandle = setup_logging(
            "info", appenders.parse([json_file(tmp_path), splunk]), role="worker"
        )
        logger.info("one line")
        wait_until(lambda: handle.drops()["splunk"] == 1)
        assert handle.close(2)
    finally:
        del os.environ["RJ_TEST_TOKEN"]
    records = lines(tmp_path / "app.log")
    warnings = [r for r in records if r["logger"] == "appenders"]
    assert {r["message"] for r in warnings} >= {"appender delivery failed"}
    assert all(r["extra"]["appender"] == "splunk" for r in warnings)
    assert handle.drops()["splunk"] == 1  # only "one line": its own warnings never came back


def test_appenders_are_parsed_at_load_and_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^appenders\[0\]\.url: unsupported scheme 'http'"):
        config_module.from_dict({"appenders": [{"type": "syslog", "url": "http://x"}]})
    with pytest.raises(ConfigError, match=r"^appenders\[0\]\.token_env: environment variable"):
        config_module.from_dict(
            {
                "appenders": [
                    {"type": "splunk", "url": "https://x/e", "token_env": "RJ_NOPE_NOT_SET"}
                ]
            }
        )
