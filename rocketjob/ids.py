"""Job ids: 24 hex digits that sort by creation time (milliseconds, then a counter)."""

from __future__ import annotations

import itertools
import os
import threading
import time

_lock = threading.Lock()
_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
_node = os.urandom(3).hex()
_pid = os.getpid()


def new_id() -> str:
    """A new unique id: 12 hex of epoch milliseconds, 6 per process, 6 of counter."""
    global _node, _pid
    if os.getpid() != _pid:  # forked: never share ids with the parent
        with _lock:
            _node, _pid = os.urandom(3).hex(), os.getpid()
    return f"{int(time.time() * 1000):012x}{_node}{next(_counter) & 0xFFFFFF:06x}"
