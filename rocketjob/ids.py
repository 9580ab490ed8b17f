"""Job ids: 24 hex digits that sort by creation time (milliseconds, then a counter)."""

from __future__ import annotations

import itertools
import os
import time

_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
_node = os.urandom(3).hex()


def _forked() -> None:
    """In a forked child: never share ids with the parent."""
    global _node
    _node = os.urandom(3).hex()


os.register_at_fork(after_in_child=_forked)


def new_id() -> str:
    """A new unique id: 12 hex of epoch milliseconds, 6 per process, 6 of counter."""
    return f"{int(time.time() * 1000):012x}{_node}{next(_counter) & 0xFFFFFF:06x}"
