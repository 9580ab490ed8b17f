"""Fixtures of the real-process tests: a store, config files, and daemons always killed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import rocketjob
from rocketjob.store import JobQuery
from tests.integration.faults import engine_url  # noqa: F401 (a fixture: SQLite and PostgreSQL)
from tests.integration.helpers import Daemon, store_url


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    """The shared store, connected for the test process too."""
    address = store_url(tmp_path)
    store = rocketjob.connect(address)
    for doc in store.find_jobs(JobQuery(limit=None)):  # a shared store (PostgreSQL, MongoDB)
        store.delete_job(doc["id"])
    for server in store.list_servers():
        store.remove_server(server["name"])
    yield address
    rocketjob.disconnect()


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    """Daemons started by a test; every process group still alive is killed at the end."""
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.kill_group()
