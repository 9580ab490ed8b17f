"""Fixtures of the behaviour tests: the real-process fixtures of tests/integration."""

from tests.integration.conftest import daemons, store_kind, url

__all__ = ["daemons", "store_kind", "url"]
