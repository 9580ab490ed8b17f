"""MongoDB store: the async side (:class:`rocketjob.store.base.AsyncJobs`), on pymongo's
``AsyncMongoClient``.

An ``AsyncMongoClient`` is bound to the event loop it first runs in, so each loop gets its
own, made with the blocking client's URL and options, opened on first use and closed at the
loop's shutdown (:class:`rocketjob.store.loops.PerLoop`); it keeps its own connection pool
and reconnects by itself. Documents are encoded and decoded by the blocking store's code
(:func:`.docs.to_bson`, :func:`.docs.job_from_bson`) and errors translated by the same
function, and an enqueue is all or none the same way: one transaction where the server has
them, otherwise one ordered ``insert_many`` whose partial result is deleted again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pymongo
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import BulkWriteError, PyMongoError

from rocketjob.store.base import JobDoc
from rocketjob.store.loops import PerLoop
from rocketjob.store.mongodb.connection import Database, translation
from rocketjob.store.mongodb.docs import job_from_bson, to_bson

Client = pymongo.AsyncMongoClient[dict[str, Any]]


class AsyncMongoJobs:
    """The MongoDB store's :class:`rocketjob.store.base.AsyncJobs`."""

    def __init__(self, db: Database, poke: Callable[[], None]) -> None:
        self._url, self._options = db.client_url, db.client_options
        self._database = db.db.name
        self._transactions = db.transactions
        self._poke = poke  # wakes this process's waiting worker, as the blocking insert does
        self._clients: PerLoop[Client] = PerLoop(self._connect, _close)

    async def _connect(self) -> Client:
        return pymongo.AsyncMongoClient(self._url, **self._options)

    async def insert_jobs(self, docs: Sequence[JobDoc]) -> None:
        if not docs:
            return
        stored = [to_bson(doc, "id") for doc in docs]
        client = await self._clients.get()
        jobs = client[self._database]["rocketjob_jobs"]
        try:
            if len(stored) > 1 and self._transactions:

                async def insert(session: AsyncClientSession) -> None:
                    await jobs.insert_many(stored, session=session)

                async with client.start_session() as session:
                    await session.with_transaction(insert, max_commit_time_ms=10000)
            else:
                try:
                    await jobs.insert_many(stored, ordered=True)
                except BulkWriteError as exc:
                    inserted = int(exc.details.get("nInserted", 0))
                    if inserted:
                        ids = [d["_id"] for d in stored[:inserted]]
                        await jobs.delete_many({"_id": {"$in": ids}})
                    raise
        except PyMongoError as exc:
            raise translation(exc) from None
        self._poke()

    async def get_job(self, job_id: str) -> JobDoc | None:
        jobs = (await self._clients.get())[self._database]["rocketjob_jobs"]
        try:
            raw = await jobs.find_one({"_id": job_id})
        except PyMongoError as exc:
            raise translation(exc) from None
        return job_from_bson(raw) if raw else None

    async def aclose(self) -> None:
        await self._clients.aclose()

    def forget(self) -> None:
        """The store closed: forget every loop's client (each loop's shutdown still
        closes its own)."""
        self._clients.forget()


async def _close(client: Client) -> None:
    await client.close()
