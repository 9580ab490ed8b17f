"""Fixtures of the real-process tests: a store, config files, and daemons always killed.

A test marked ``@pytest.mark.every_store`` runs unchanged on a fresh SQLite file and on
each store of ``ROCKETJOB_TEST_E2E_STORES`` (default ``postgres,mongodb``): its ``url``
is then an isolated store derived from the base URLs of the store contract suite
(``ROCKETJOB_TEST_POSTGRES_URL`` plus ``?schema=rj_<random>``, or
``ROCKETJOB_TEST_MONGODB_URL`` with database ``rj_<random>``), dropped afterwards, so
nothing is wiped from a store someone else uses. A missing server skips its runs locally
and fails them when ``CI=true``. On those stores the daemons get a tolerant
``zombie_seconds`` (TOLERANT_ZOMBIE_SECONDS) unless the marker names one
(``every_store(zombie_seconds=2)``: a test of zombie detection).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import rocketjob
from rocketjob.store import JobQuery
from tests.integration import helpers
from tests.integration.faults import engine_url  # noqa: F401 (a fixture: SQLite and PostgreSQL)
from tests.integration.helpers import Daemon, store_url
from tests.store.conftest import _drop, make_env, require_service

E2E_STORES = [
    kind.strip()
    for kind in os.environ.get("ROCKETJOB_TEST_E2E_STORES", "postgres,mongodb").split(",")
    if kind.strip()
]

#: zombie_seconds on the shared stores, for the tests that do not test zombie detection:
#: a live server whose heartbeat lags behind a slow shared server (SecantusDB is pure
#: Python: a write can take hundreds of milliseconds on a loaded machine) must not be
#: declared dead and have its running jobs run again elsewhere.
TOLERANT_ZOMBIE_SECONDS = 15


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every ``every_store`` test on SQLite and on each chosen shared store."""
    if metafunc.definition.get_closest_marker("every_store") is None:
        return
    if "store_kind" in metafunc.fixturenames:
        metafunc.parametrize("store_kind", ["sqlite", *E2E_STORES], indirect=True)


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which store ``url`` is: ``sqlite`` unless the test is marked ``every_store``."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def url(
    request: pytest.FixtureRequest, store_kind: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:  # fmt: skip
    """The shared store, connected for the test process too."""
    if store_kind != "sqlite":
        marker = request.node.get_closest_marker("every_store")
        zombie = (marker.kwargs if marker else {}).get("zombie_seconds", TOLERANT_ZOMBIE_SECONDS)
        yield from _isolated_store(store_kind, tmp_path, monkeypatch, zombie)
        return
    address = store_url(tmp_path)
    store = rocketjob.connect(address)
    for doc in store.find_jobs(JobQuery(limit=None)):  # a shared store (PostgreSQL, MongoDB)
        store.delete_job(doc["id"])
    for server in store.list_servers():
        store.remove_server(server["name"])
    yield address
    rocketjob.disconnect()


def _isolated_store(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zombie_seconds: float
) -> Iterator[str]:
    """A fresh, empty store of ``kind``, connected for the test process; dropped after
    the test's daemons are killed (``daemons`` is requested after ``url``)."""
    require_service(kind)
    env, name = make_env(kind, tmp_path)
    monkeypatch.setitem(helpers.WORKER_DEFAULTS, "zombie_seconds", zombie_seconds)
    rocketjob.connect(env.url)
    try:
        yield env.url
    finally:
        rocketjob.disconnect()
        _drop(kind, name)


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    """Daemons started by a test; every process group still alive is killed at the end."""
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.kill_group()
