"""Shared fixtures: a real SQLite store per test and an in-process worker (waiting and
the fake clock are in tests/support.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import rocketjob
from rocketjob import config as config_module
from rocketjob.control import ServerCommand
from rocketjob.worker import Worker

REPO = Path(__file__).resolve().parent.parent


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
    """A Worker booted on the connected store (handed to it explicitly), running in a
    thread, drained at exit."""
    data = {
        "worker": {"threads": threads, "imports": list(imports), "heartbeat_seconds": 1,
                   "zombie_seconds": 3,
                   # only the classes of these modules, whatever else this process imported
                   "include": [f"{module}.*" for module in imports], **worker},
        "supervisor": {"drain_timeout": 5},
    }  # fmt: skip
    instance = Worker.boot(config_module.from_dict(data), store=rocketjob.current_store())
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(instance.run()), daemon=True)
    thread.start()
    try:
        yield instance
    finally:
        instance.request(ServerCommand.STOP)
        thread.join(15)
        assert not thread.is_alive(), "worker did not drain"
        assert codes == [0]
