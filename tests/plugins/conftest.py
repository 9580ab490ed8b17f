"""Fixtures of the behaviour tests: the real-process fixtures of tests/integration."""

from tests.integration.conftest import daemons, url

__all__ = ["daemons", "url"]
