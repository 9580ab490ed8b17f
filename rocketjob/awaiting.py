"""Running a coroutine to completion from synchronous code (an ``async def`` callback
reached on a thread, ``perform_now`` of a coroutine job): stdlib only, so the job model
can use it without importing :mod:`rocketjob.aio`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


def run_to_completion(
    awaitable: Awaitable[Any], what: str, instead: str = "`await job_class.aperform_now(...)`"
) -> Any:
    """Run ``awaitable`` on a fresh event loop (``asyncio.run``) and return its value.
    Inside a running loop that would deadlock, so it raises a RuntimeError saying to
    await the async variant instead."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_awaited(awaitable))
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()  # no "never awaited" warning: the error says it
    raise RuntimeError(
        f"{what} is a coroutine, and an event loop is already running in this thread: "
        f"await it instead ({instead})"
    )


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
