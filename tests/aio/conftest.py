"""Fixtures of the coroutine-job tests: a fresh store of each kind, and the real-daemon
fixtures of tests/integration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import rocketjob
from tests.integration import helpers
from tests.integration.conftest import daemons  # noqa: F401 (a fixture)
from tests.store.conftest import _drop, make_env, require_service


@pytest.fixture(params=["sqlite", "postgres", "mongodb"])
def store_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A fresh store of each kind, connected for the test process."""
    kind = request.param
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
        rocketjob.connect(url)
        yield url
        rocketjob.disconnect()
        return
    require_service(kind)
    env, name = make_env(kind, tmp_path)
    monkeypatch.setitem(helpers.WORKER_DEFAULTS, "zombie_seconds", 15)
    rocketjob.connect(env.url)
    try:
        yield env.url
    finally:
        rocketjob.disconnect()
        _drop(kind, name)
