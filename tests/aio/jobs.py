"""Job classes of the coroutine-job tests: each writes what it did to a file named by
its arguments, so a test sees work done by another process."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from rocketjob import Job


def note(path: str, line: str) -> None:
    """Append ``line`` (and this pid) to the file at ``path``."""
    with open(path, "a") as out:
        out.write(f"{line} {os.getpid()}\n")


class AsyncNote(Job):
    """Awaits, then writes ``done TAG``: proof that perform was awaited."""

    collect_output = True

    async def perform(self, path: str, tag: str, seconds: float = 0.0) -> str:
        note(path, f"start {tag}")
        await asyncio.sleep(seconds)
        note(path, f"done {tag}")
        return tag


class ThreadNote(Job):
    """A thread job writing ``done TAG``."""

    def perform(self, path: str, tag: str) -> None:
        note(path, f"done {tag}")


class ReturnsCoroutine(Job):
    """A ``def perform`` returning an un-awaited coroutine: a bug the worker refuses."""

    def perform(self, path: str) -> Any:
        return asyncio.sleep(0)


class AsyncCallbacks(Job):
    """Every callback async (or not) records its name on the job's ``calls`` field."""

    destroy_on_complete = False
    calls: list[str] = []

    async def before_start(self) -> None:
        self.calls.append("before_start")

    def after_start(self) -> None:
        self.calls.append("after_start")

    async def before_perform(self) -> None:
        await asyncio.sleep(0)
        self.calls.append("before_perform")

    async def around_perform(self, perform: Any) -> Any:
        self.calls.append("around_in")
        result = await perform()
        self.calls.append("around_out")
        return result

    async def perform(self) -> None:
        self.calls.append("perform")

    async def after_perform(self) -> None:
        self.calls.append("after_perform")

    async def before_complete(self) -> None:
        self.calls.append("before_complete")
        self.save(calls=[*self.calls])


class AsyncFail(Job):
    """Raises after an await; retried ``retry_limit`` times."""

    retry_limit = 1

    def retry_delay(self, attempt: int) -> float:
        return 0.0

    async def perform(self, message: str) -> None:
        await asyncio.sleep(0)
        raise ValueError(message)


class AsyncHang(Job):
    """Sleeps (awaits) for a long time: for timeouts, aborts, drains and crashes."""

    async def perform(self, path: str, tag: str, seconds: float = 60.0) -> None:
        note(path, f"start {tag}")
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            note(path, f"cancelled {tag}")
            raise
        note(path, f"done {tag}")


class AsyncTimeout(AsyncHang):
    """An AsyncHang with a 0.5 s time limit."""

    timeout = 0.5


class AsyncBlocker(Job):
    """Blocks the event loop with a synchronous sleep (what a coroutine job must not do)."""

    async def perform(self, seconds: float) -> None:
        time.sleep(seconds)  # deliberately blocking: the watchdog must report it


class AsyncBlockerTimed(Job):
    """Blocks the loop past its 0.3 s time limit: only the hard limit can stop it."""

    timeout = 0.3

    async def perform(self, path: str, seconds: float) -> None:
        note(path, "start blocker")
        time.sleep(seconds)  # deliberately blocking: cancellation cannot reach it
        note(path, "done blocker")


class AsyncStubborn(Job):
    """Ignores its cancellation (a job swallowing CancelledError): only the hard limit
    after an abort stops it."""

    async def perform(self, path: str) -> None:
        note(path, "start stubborn")
        while True:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                note(path, "ignored stubborn")


class AsyncChain(Job):
    """Enqueues an AsyncNote from inside the worker's event loop (the store's async
    driver on that loop), then notes it did."""

    async def perform(self, path: str, tag: str) -> None:
        await AsyncNote.aperform_later(path, f"{tag}-child")
        note(path, f"chained {tag}")


def read(path: Path) -> list[str]:
    """Lines written so far (none if the file does not exist yet)."""
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


class Fetch(Job):
    """The docs' FastAPI example's job (docs/jobs.md, Coroutine jobs)."""

    collect_output = True

    async def perform(self, url: str) -> str:
        await asyncio.sleep(0)
        return url
