"""The non-blocking API of jobs, for async applications (FastAPI, aiohttp):
``await ImportJob.aperform_later(...)``, ``aperform_all_later``, ``Job.afind``,
``job.areload()`` and ``aperform_now``.

The store calls run on a thread (``asyncio.to_thread``), one call each, so the caller's
event loop keeps serving while the database answers; the semantics are those of the
blocking methods (same validation, same errors, same round trips). Every engine goes
this way: SQLite has no async driver, and for PostgreSQL and MongoDB the stores' own
connections (and their enqueue group commit) are shared with the blocking API this way.

``aperform_now`` of a coroutine job awaits ``perform`` (with its perform callbacks) in
the caller's loop; ``perform_now`` of one runs it with ``asyncio.run`` and, inside a
running loop, says to await ``aperform_now`` instead.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Self, cast

if TYPE_CHECKING:
    from rocketjob.typed import APerformLater, APerformNow


class AsyncActions:
    """The ``a``-prefixed methods of :class:`rocketjob.Job` (a mixin)."""

    if TYPE_CHECKING:  # typed by perform's signature (rocketjob.typed)
        aperform_later = APerformLater()
        aperform_now = APerformNow()
    else:

        @classmethod
        async def aperform_later(cls, *args: Any, **kwargs: Any) -> Self:
            """``perform_later`` without blocking the event loop."""
            method = cls.perform_later  # type: ignore[attr-defined]
            return cast(Self, await asyncio.to_thread(method, *args, **kwargs))

        @classmethod
        async def aperform_now(cls, *args: Any, **kwargs: Any) -> object:
            """Run ``perform`` inline (nothing stored) and return its value: a coroutine
            job is awaited here, in the caller's loop; a thread job runs on a thread."""
            from rocketjob.aio.callbacks import arun_perform

            job = cls()
            job.arguments = {"args": list(args), "kwargs": dict(kwargs)}  # type: ignore[attr-defined]
            if inspect.iscoroutinefunction(getattr(cls, "perform", None)):
                return await arun_perform(job)  # type: ignore[arg-type]
            return await asyncio.to_thread(job.run_perform)  # type: ignore[attr-defined]

    @classmethod
    async def aperform_all_later(cls, arguments: Iterable[Any], **options: Any) -> list[Self]:
        """``perform_all_later`` without blocking the event loop."""
        method = cls.perform_all_later  # type: ignore[attr-defined]
        return cast(list[Self], await asyncio.to_thread(method, list(arguments), **options))

    @classmethod
    async def afind(cls, job_id: str) -> Self:
        """``find`` without blocking the event loop (raises JobNotFound)."""
        method = cls.find  # type: ignore[attr-defined]
        return cast(Self, await asyncio.to_thread(method, job_id))

    async def areload(self) -> Self:
        """``reload`` without blocking the event loop."""
        return cast(Self, await asyncio.to_thread(self.reload))  # type: ignore[attr-defined]
