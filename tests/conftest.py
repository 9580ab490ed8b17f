"""Shared fixtures: a real SQLite store per test, an in-process worker, waiting helpers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import rocketjob
from rocketjob import config as config_module
from rocketjob.worker import Worker

REPO = Path(__file__).resolve().parent.parent


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01) -> Any:
    """Poll ``condition`` until it is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {condition}")
        time.sleep(interval)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    """A fresh SQLite store file, connected for this process."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    rocketjob.connect(url)
    yield url
    rocketjob.disconnect()


@contextmanager
def running_worker(
    threads: int = 4, imports: tuple[str, ...] | list[str] = ("tests.jobs",), **worker: Any
) -> Iterator[Worker]:
    """A Worker booted on the connected store, running in a thread, drained at exit."""
    data = {
        "worker": {"threads": threads, "imports": list(imports), "heartbeat_seconds": 1,
                   "zombie_seconds": 3,
                   # only the classes of these modules, whatever else this process imported
                   "include": [f"{module}.*" for module in imports], **worker},
        "supervisor": {"drain_timeout": 5},
    }  # fmt: skip
    instance = Worker(config_module.from_dict(data))
    instance.boot()
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(instance.run()), daemon=True)
    thread.start()
    try:
        yield instance
    finally:
        instance.request("drain")
        thread.join(15)
        assert not thread.is_alive(), "worker did not drain"
        assert codes == [0]
