"""The pytest plugin of rocketjob, registered as the ``rocketjob`` entry point in the
``pytest11`` group: installed with rocketjob, it gives every test suite the fixture

``rocketjob_store``
    A fresh SQLite store in a temporary folder, set as the current store for the test
    (``perform_later``, ``Job.find``, ``rocketjob.testing.drain()`` use it) and replaced by
    the previous one afterwards. The fixture's value is the store.

Disable it with ``pytest -p no:rocketjob``. See docs/testing.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from rocketjob.store import Store


@pytest.fixture
def rocketjob_store() -> Iterator[Store]:
    """A fresh temporary SQLite store, current for this test, the previous one restored
    afterwards."""
    from rocketjob.testing import temporary_store  # imported only by tests that use it

    with temporary_store() as store:
        yield store
