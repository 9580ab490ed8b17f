"""Fixtures of the fault-containment tests (issue 16): each runs on SQLite and PostgreSQL
(a fresh file, a fresh schema), with real daemons."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import rocketjob
from tests.store.conftest import _drop, make_env, require_service


@pytest.fixture(params=["sqlite", "postgres"])
def engine_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[str]:
    """A fresh SQLite or PostgreSQL store, connected for the test process too."""
    require_service(request.param)
    env, name = make_env(request.param, tmp_path)
    rocketjob.connect(env.url)
    try:
        yield env.url
    finally:
        rocketjob.disconnect()
        _drop(request.param, name)


def engine_kind(url: str) -> str:
    """``sqlite`` or ``postgres``, from a store URL."""
    return "sqlite" if url.startswith("sqlite") else "postgres"
