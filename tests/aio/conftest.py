"""Fixtures of the coroutine-job tests: the real-daemon fixtures of tests/integration."""

from __future__ import annotations

from tests.integration.conftest import daemons  # noqa: F401 (a fixture)
