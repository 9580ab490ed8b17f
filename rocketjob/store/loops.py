"""One connection (or client) per running event loop, for the stores' async drivers.

An async driver's connection belongs to the event loop it was opened in (pymongo's
``AsyncMongoClient`` refuses any other loop; a psycopg ``AsyncConnection`` waits on its
loop's selector), and an application may run several loops (one per thread, or one
``asyncio.run`` after another). :class:`PerLoop` opens one value per loop on first use
(concurrent first callers share the one opening) and closes it when the loop shuts down:
``asyncio.run`` (and uvicorn, which uses it) calls ``loop.shutdown_asyncgens()`` before
closing the loop, and that closes the pending async generator :class:`PerLoop` parks in
the loop for this. :meth:`PerLoop.aclose` closes the calling loop's value earlier (an
application's shutdown hook); :meth:`PerLoop.discard` drops a broken one, so the next call
opens a new one.

A loop closed without ``shutdown_asyncgens()`` (a hand-run ``run_until_complete`` and
``close``) leaves its connection open until the process exits, as it leaves any async
generator unfinished; the worker's own loop (rocketjob.aio.runner) shuts down as
``asyncio.run`` does.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Generic, TypeVar

from rocketjob.log import logger

T = TypeVar("T")


class _Entry(Generic[T]):
    """One loop's value: being opened, open, or closed."""

    __slots__ = ("__weakref__", "closer", "opening", "value")

    def __init__(self) -> None:
        self.value: T | None = None
        self.opening: asyncio.Future[T] | None = None
        self.closer: AsyncGenerator[None, None] | None = None


class PerLoop(Generic[T]):
    """A value of type ``T`` per event loop: ``await open_()`` makes one, ``await
    close(value)`` ends it (errors logged, never raised)."""

    def __init__(
        self, open_: Callable[[], Awaitable[T]], close: Callable[[T], Awaitable[None]]
    ) -> None:
        self._open = open_
        self._close = close
        self._lock = threading.Lock()  # loops of several threads share the table
        self._entries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Entry[T]] = (
            weakref.WeakKeyDictionary()
        )

    async def get(self) -> T:
        """The calling loop's value, opened on first use."""
        loop = asyncio.get_running_loop()
        entry = self._entries.get(loop)
        if entry is not None and entry.value is not None:
            return entry.value
        with self._lock:
            entry = self._entries.get(loop)
            if entry is None:
                entry = self._entries[loop] = _Entry()
                entry.opening = loop.create_task(self._opened(loop, entry))
        if entry.value is not None:
            return entry.value
        if entry.opening is None:  # closed meanwhile: open anew
            return await self.get()
        return await asyncio.shield(entry.opening)

    async def _opened(self, loop: asyncio.AbstractEventLoop, entry: _Entry[T]) -> T:
        try:
            value = await self._open()
        except BaseException:
            with self._lock:  # the next call tries again
                if self._entries.get(loop) is entry:
                    del self._entries[loop]
            raise
        closer = _until_shutdown(self, entry)
        await closer.__anext__()  # parked in the loop: shutdown_asyncgens() closes it
        # the done task holds its loop: drop it, so only the loop's shutdown holds the entry
        entry.value, entry.closer, entry.opening = value, closer, None
        return value

    async def aclose(self) -> None:
        """Close the calling loop's value now (nothing when it has none)."""
        entry = self._entries.get(asyncio.get_running_loop())
        if entry is not None and entry.closer is not None:
            await entry.closer.aclose()  # runs _until_shutdown's finally

    async def discard(self, value: T) -> None:
        """``value`` broke (its connection was lost): close it; the calling loop's next
        :meth:`get` opens a new one."""
        entry = self._entries.get(asyncio.get_running_loop())
        if entry is not None and entry.value is value:
            await self.aclose()

    async def _end(self, entry: _Entry[T]) -> None:
        """Close ``entry``'s value once and forget it."""
        value, entry.value = entry.value, None
        with self._lock:
            for loop, other in list(self._entries.items()):
                if other is entry:
                    del self._entries[loop]
        if value is None:
            return
        try:
            await self._close(value)
        except Exception as exc:  # a connection that broke meanwhile: nothing left to close
            logger.debug("async store connection not closed cleanly", error=repr(exc))

    def forget(self) -> None:
        """Drop every loop's value without closing it (the store closed while loops still
        run: each loop's shutdown still closes its own)."""
        with self._lock:
            self._entries.clear()


async def _until_shutdown(owner: PerLoop[T], entry: _Entry[T]) -> AsyncGenerator[None, None]:
    """Suspended at its ``yield`` for the life of the loop; closing it (the loop's
    shutdown, or :meth:`PerLoop.aclose`) closes the entry's value. It holds no
    reference to the loop, so the table's weak key can go."""
    try:
        yield
    finally:
        await owner._end(entry)
