"""PostgreSQL store: the async side (:class:`rocketjob.store.base.AsyncJobs`), on psycopg's
``AsyncConnection``.

Each event loop gets one autocommit connection, configured as the pooled ones are (orjson
for json columns, the statement timeouts, prepared statements), opened on first use and
closed at the loop's shutdown (:class:`rocketjob.store.loops.PerLoop`); a connection found
broken is dropped and the next call opens a new one. The statements are the blocking
store's own text (:meth:`.sql.Statements.insert`, ``get_one``), so an enqueue is the same
one statement (rows + NOTIFY) either way.

Concurrent enqueues of one loop share a statement, as the blocking store's threads do
(:mod:`.enqueue`): while one statement is in flight, the jobs of every call arriving meanwhile
wait and go together in the next one, so a burst of ``aperform_later`` costs few round
trips. After a unique-key failure of a shared statement (none of it stored), each caller's
jobs are written again on their own, so only the duplicate's caller gets DuplicateJob; any
other failure is every caller's. A bulk enqueue (a :class:`JobBatch`) is its own statement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_loads

import rocketjob.store.postgres.schema as schema
from rocketjob.store.base import JobBatch, JobDoc
from rocketjob.store.loops import PerLoop
from rocketjob.store.postgres.connection import Database, translation
from rocketjob.store.postgres.sql import Statements

AsyncConn = psycopg.AsyncConnection[Any]
#: One caller's documents and the future it awaits.
Pending = tuple[Sequence[JobDoc], "asyncio.Future[None]"]


class _LoopLink:
    """One event loop's connection and its queue of enqueues waiting for a statement."""

    def __init__(self, conn: AsyncConn) -> None:
        self.conn = conn
        self.pending: list[Pending] = []
        self.flusher: asyncio.Task[None] | None = None

    async def close(self) -> None:
        await self.conn.close()


class AsyncPostgresJobs:
    """The PostgreSQL store's :class:`rocketjob.store.base.AsyncJobs`."""

    def __init__(self, db: Database, statements: Statements) -> None:
        self._conninfo = db.opts.conninfo
        self._prepare = db.opts.prepare
        self._settings = db.session_settings()
        self._sql = statements
        self._links: PerLoop[_LoopLink] = PerLoop(self._connect, _LoopLink.close)

    async def _connect(self) -> _LoopLink:
        try:
            conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            set_json_loads(orjson.loads, conn)
            if not self._prepare:
                conn.prepare_threshold = None
            for statement in self._settings:
                await conn.execute(statement)
        except psycopg.Error as exc:
            raise translation(exc) from None
        return _LoopLink(conn)

    async def insert_jobs(self, docs: Sequence[JobDoc]) -> None:
        if not docs:
            return
        link = await self._links.get()
        if isinstance(docs, JobBatch):  # one caller's batch: its own statement
            error = await self._execute(link, docs)
            if error is not None:
                raise translation(error) from None
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        link.pending.append((docs, future))
        if link.flusher is None:
            link.flusher = asyncio.get_running_loop().create_task(self._flush(link))
        await future

    async def get_job(self, job_id: str) -> JobDoc | None:
        link = await self._links.get()
        try:
            cursor = await link.conn.execute(self._sql.get_one, (job_id,))
            row = await cursor.fetchone()
        except psycopg.Error as exc:
            await self._check(link)
            raise translation(exc) from None
        return schema.job_from_row(row) if row else None

    async def aclose(self) -> None:
        await self._links.aclose()

    def forget(self) -> None:
        """The store closed: forget every loop's connection (each loop's shutdown still
        closes its own)."""
        self._links.forget()

    # -- shared statements ------------------------------------------------------------
    async def _flush(self, link: _LoopLink) -> None:
        """Write the queued enqueues, one statement per round trip, until none is left."""
        try:
            await asyncio.sleep(0)  # callers of this loop iteration join the first one
            while link.pending:
                batch = [entry for entry in link.pending if not entry[1].done()]
                link.pending = []
                if batch:
                    await self._write(link, batch)
        finally:
            link.flusher = None

    async def _write(self, link: _LoopLink, batch: list[Pending]) -> None:
        docs = [doc for entry, _ in batch for doc in entry] if len(batch) > 1 else batch[0][0]
        error = await self._execute(link, docs)
        if isinstance(error, psycopg.errors.UniqueViolation) and len(batch) > 1:
            for entry, future in batch:  # only the duplicate's caller fails
                _settle(future, await self._execute(link, entry))
            return
        for _, future in batch:
            _settle(future, error)

    async def _execute(self, link: _LoopLink, docs: Sequence[JobDoc]) -> psycopg.Error | None:
        """Run the insert of ``docs``; the driver error, if any (its connection dropped
        when it broke)."""
        try:
            await link.conn.execute(*self._sql.insert(docs))
        except psycopg.Error as exc:
            await self._check(link)
            return exc
        return None

    async def _check(self, link: _LoopLink) -> None:
        """After an error: a broken connection is dropped (the next call reconnects)."""
        if link.conn.broken or link.conn.closed:
            await self._links.discard(link)


def _settle(future: asyncio.Future[None], error: psycopg.Error | None) -> None:
    if future.done():  # its caller was cancelled meanwhile
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(translation(error))
