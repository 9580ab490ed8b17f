"""Finding coroutine jobs that block the event loop (a long synchronous call in an
``async def perform``), like asyncio debug mode's slow-callback log but always on.

A watchdog thread posts a no-op callback to the loop (``call_soon_threadsafe``) and
waits for it to run. When it has not run within ``threshold`` seconds, the loop is
blocked: the watchdog notes the task running at that moment (``asyncio.current_task``)
and, once the callback does run, logs one warning with that task's job id and how long
the loop was blocked. Cost: one callback per ``threshold`` seconds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from rocketjob.log import logger


class LoopWatchdog:
    """Measures the lag of ``loop``; ``job_of(task)`` names the job a task runs."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        threshold: float,
        job_of: Callable[[asyncio.Task[object] | None], str | None],
    ) -> None:
        self._loop = loop
        self._threshold = threshold
        self._job_of = job_of
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="rocketjob-aio-watchdog",
                                        daemon=True)  # fmt: skip
        #: Warnings logged so far.
        self.warnings = 0

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (before the loop closes)."""
        self._stop.set()
        self._thread.join(5.0)

    def _watch(self) -> None:
        while not self._stop.wait(self._threshold):
            ran = threading.Event()
            posted = time.monotonic()
            try:
                self._loop.call_soon_threadsafe(ran.set)
            except RuntimeError:  # the loop closed
                return
            if ran.wait(self._threshold):
                continue
            job_id = self._job_of(asyncio.current_task(self._loop))
            while not ran.wait(0.05):
                if self._stop.is_set():
                    return
            self._report(job_id, time.monotonic() - posted)

    def _report(self, job_id: str | None, blocked: float) -> None:
        self.warnings += 1
        logger.warning(
            "event loop blocked by a coroutine job; use await or asyncio.to_thread for "
            "blocking calls",
            job_id=job_id,
            blocked_ms=round(blocked * 1000, 1),
        )
