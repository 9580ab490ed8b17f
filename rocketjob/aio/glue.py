"""How a worker process builds its event loop and reports it: the only code the worker
needs from :mod:`rocketjob.aio`, so ``rocketjob.worker`` stays about threads."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from typing import Any

from rocketjob.aio.kinds import coroutine_job_classes
from rocketjob.aio.runner import AsyncRunner, LoopSettings
from rocketjob.config import WorkerConfig
from rocketjob.lifecycle import OnError
from rocketjob.stats import JobStats
from rocketjob.store import ClaimLimit, Store


def build_runner(
    config: WorkerConfig,
    server_name: str,
    store: Store,
    job_classes: Sequence[str],
    limits: Sequence[ClaimLimit],
    *,
    now: Callable[[], dt.datetime],
    may_claim: Callable[[], bool],
    freed: threading.Event,
    stats: JobStats,
    on_error: OnError,
    after_job: Callable[[], None] | None = None,
) -> AsyncRunner | None:
    """The started event loop of a worker, or None when it runs no coroutine job class
    (none imported, or ``async_concurrency = 0``): then no loop thread exists at all."""
    classes = coroutine_job_classes(job_classes)
    if not classes or config.async_concurrency == 0:
        return None
    settings = LoopSettings(
        server_name, config.async_concurrency, config.async_block_warning,
        config.max_poll_seconds,
    )  # fmt: skip
    runner = AsyncRunner(settings, store, classes, limits, now=now, may_claim=may_claim,
                         freed=freed, stats=stats, on_error=on_error,
                         after_job=after_job)  # fmt: skip
    runner.start()
    return runner


def loop_figures(runner: AsyncRunner | None) -> dict[str, Any]:
    """The server document's figures of the event loop: slots and busy slots (0 and 0
    without a loop), and what each busy slot runs (``current_async``)."""
    if runner is None:
        return {"async_slots": 0, "async_busy": 0, "current_async": {}}
    return {
        "async_slots": runner.slots.size,
        "async_busy": runner.busy,
        "current_async": runner.snapshot(),
        "loop_blocked_warnings": runner.watchdog.warnings,
    }
