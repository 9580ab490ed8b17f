"""The non-blocking API of jobs, for async applications (FastAPI, aiohttp):
``await ImportJob.aperform_later(...)``, ``aperform_all_later``, ``Job.afind``,
``job.areload()`` and ``aperform_now``.

The jobs are built and validated as the blocking methods do (same code, same errors);
the store call is awaited on the store's async driver (:attr:`Store.async_jobs`:
psycopg's ``AsyncConnection`` for PostgreSQL, pymongo's ``AsyncMongoClient`` for
MongoDB, one connection per event loop), so the caller's loop keeps serving while the
database answers. SQLite has no async driver: its (short, local) calls run on a thread
(``asyncio.to_thread``), as does an enqueue through a caller's own blocking psycopg
``connection=`` and the building of a bulk enqueue's jobs.

``aperform_now`` of a coroutine job awaits ``perform`` (with its perform callbacks) in
the caller's loop; ``perform_now`` of one runs it with ``asyncio.run`` and, inside a
running loop, says to await ``aperform_now`` instead.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Self, cast

from rocketjob.connection import current_store
from rocketjob.enqueue import Enqueuer
from rocketjob.store import JobDoc

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
            enqueuer = Enqueuer(cast(Any, cls), {})
            return cast(Self, await enqueuer.aperform_later(*args, **kwargs))

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
        enqueuer = Enqueuer(cast(Any, cls), options)
        return cast(list[Self], await enqueuer.aperform_all_later(arguments))

    @classmethod
    async def afind(cls, job_id: str) -> Self:
        """``find`` without blocking the event loop (raises JobNotFound)."""
        return cast(Self, cls._found(job_id, await aget_job(job_id)))  # type: ignore[attr-defined]

    async def areload(self) -> Self:
        """``reload`` without blocking the event loop."""
        doc = await aget_job(self._require_id())  # type: ignore[attr-defined]
        return cast(Self, self._reloaded(doc))  # type: ignore[attr-defined]


async def aget_job(job_id: str) -> JobDoc | None:
    """The stored document of ``job_id``, through the store's async driver (a thread for
    SQLite)."""
    store = current_store()
    if store.async_jobs is None:
        return await asyncio.to_thread(store.get_job, job_id)
    return await store.async_jobs.get_job(job_id)
