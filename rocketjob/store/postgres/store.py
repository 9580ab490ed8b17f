"""The PostgreSQL store (psycopg 3 with psycopg_pool): many machines, one database.

* URL: ``postgresql://user:password@host:5432/dbname?schema=rocketjob&pool_size=5``; the
  store's own options are listed in :data:`rocketjob.store.postgres.schema.STORE_OPTIONS`,
  every other query parameter goes to libpq (``connect_timeout`` defaults to 5 s).
* Tables ``rocketjob_jobs`` and ``rocketjob_servers`` in the chosen schema, created and
  migrated on connect under a transaction-level advisory lock (see
  :mod:`rocketjob.store.postgres.schema`).
* Claiming is one statement: the schema's ``rocketjob_claimable`` function (``SELECT ...
  ORDER BY priority, id LIMIT n FOR UPDATE SKIP LOCKED``, an index walk whatever the
  planner statistics say) feeding an ``UPDATE ... RETURNING``, so concurrent workers never
  wait on each other and never take the same row; several jobs per round trip.
* Concurrent enqueues of one process share a statement (:mod:`.enqueue`).
* Wake-ups: every write that queues a job runs ``pg_notify`` in its own transaction (so a
  rolled-back enqueue wakes nobody); :meth:`wait_for_jobs` blocks on a dedicated
  ``LISTEN`` connection and returns within milliseconds of the commit.
* Async applications: ``aperform_later``, ``Job.afind`` ... run the same statements on
  psycopg's ``AsyncConnection``, one per event loop (:mod:`.aio`).
* Transactional enqueue: ``insert_jobs(docs, connection=conn)`` writes through the
  caller's open psycopg connection without committing.
* Faults: driver errors become :class:`StoreUnavailable` (connection lost, timeouts) or
  :class:`StoreError`; pooled connections are checked before use, so the store recovers
  by itself once the database is back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

import rocketjob.store.postgres.schema as schema
import rocketjob.store.postgres.sql as postgres_sql
from rocketjob.errors import ValidationError
from rocketjob.store.base import (
    AsyncJobs,
    ClaimFor,
    ClaimLimit,
    Finish,
    JobBatch,
    JobDoc,
    JobQuery,
    ServerDoc,
)
from rocketjob.store.batch_slices import BatchSlices
from rocketjob.store.dirmon_entries import DirmonEntries
from rocketjob.store.postgres.aio import AsyncPostgresJobs
from rocketjob.store.postgres.connection import Conn, Database
from rocketjob.store.postgres.connection import translated as _translated
from rocketjob.store.postgres.dirmon import Dirmon
from rocketjob.store.postgres.enqueue import PostgresEnqueues
from rocketjob.store.postgres.listen import Listener
from rocketjob.store.postgres.schema import JOB_COLUMNS, SERVER_COLUMNS, to_param
from rocketjob.store.postgres.slices import Slices
from rocketjob.store.postgres.throttle import Throttle
from rocketjob.store.postgres.web import PostgresMissionControl, job_filters


def _claimed(rows: list[Any]) -> list[JobDoc]:
    """Claimed rows (job columns then the claim position n) as documents, in claim order."""
    rows.sort(key=lambda row: row[-1])
    return [schema.job_from_row(row[:-1]) for row in rows]


class PostgresStore(PostgresMissionControl, BatchSlices, DirmonEntries):
    """The PostgreSQL implementation of :class:`rocketjob.store.base.Store` (and of the
    optional :class:`rocketjob.store.base.MissionControlStore`, inherited from
    :class:`PostgresMissionControl`, which owns nothing but the typed pool; batch slices
    forwarded to its :class:`~rocketjob.store.postgres.slices.Slices`)."""

    #: Outcome batches a worker process may have in flight at once (GroupCommitter). One:
    #: the threads that finish during a commit's round trip wait for the next batch, so
    #: batches are bigger and each job costs less server and client CPU. Two in flight
    #: drained 4,424 j/s, one 5,264 (medians of 5 A/B pairs, bin/bench, 2 processes, the
    #: local server sharing the 2 cores).
    concurrent_writers = 1
    #: The async side: psycopg's AsyncConnection, one per event loop (postgres/aio.py).
    async_jobs: AsyncJobs | None = None

    def __init__(self, url: str) -> None:
        self.url = url
        db = Database(url)
        PostgresMissionControl.__init__(self, db)
        self._servers = db.servers
        self._listener = Listener(db.opts.conninfo, db.channel)
        self._sql = postgres_sql.build(db.jobs, db.channel, db.ident)
        self._notify = db.notify
        self._throttle = Throttle(db)
        self._dirmon = Dirmon(db)
        self._slices = Slices(db)
        self._enqueues = PostgresEnqueues(db.single, self._insert_now)
        self._async = AsyncPostgresJobs(db, self._sql)
        self.async_jobs = self._async

    # -- jobs ------------------------------------------------------------------------
    @_translated
    def insert_jobs(self, docs: Sequence[JobDoc], *, connection: Any = None) -> None:
        if not docs:
            return
        if connection is not None and not isinstance(connection, psycopg.Connection):
            raise ValidationError(
                f"connection= must be an open psycopg (3) Connection, got {type(connection)!r}"
            )
        if connection is not None:
            self._insert_now(connection, docs)
        elif isinstance(docs, JobBatch):
            with self._single() as conn:
                self._insert_now(conn, docs)
        else:  # concurrent enqueues of this process share a statement (postgres/enqueue.py)
            self._enqueues.insert(docs)

    def _insert_now(self, conn: Conn, docs: Sequence[JobDoc]) -> None:
        """One statement (rows + NOTIFY): atomic on an autocommit connection, part of the
        caller's transaction otherwise (NOTIFY delivered only if it commits)."""
        conn.execute(*self._sql.insert(docs))

    @_translated
    def get_job(self, job_id: str) -> JobDoc | None:
        with self._single() as conn:
            row = conn.execute(self._sql.get_one, (job_id,)).fetchone()
        return schema.job_from_row(row) if row else None

    def _sets(self, changes: Mapping[str, Any]) -> tuple[sql.Composable, list[Any]]:
        schema.check_columns(changes, JOB_COLUMNS)
        sets = sql.SQL(", ").join(
            sql.SQL("{} = %s").format(sql.Identifier(name)) for name in changes
        )
        return sets, [to_param(name, value) for name, value in changes.items()]

    @_translated
    def update_job(
        self,
        job_id: str,
        changes: Mapping[str, Any],
        *,
        from_states: Collection[str] | None = None,
        worker_name: str | None = None,
    ) -> JobDoc | None:
        if not changes:
            return self.get_job(job_id) if from_states is None and worker_name is None else None
        sets, params = self._sets(changes)
        where = [sql.SQL("id = %s")]
        params.append(job_id)
        if from_states is not None:
            where.append(sql.SQL("state = ANY(%s)"))
            params.append(list(from_states))
        if worker_name is not None:
            where.append(sql.SQL("worker_name = %s"))
            params.append(worker_name)
        statement = sql.SQL("UPDATE {} SET {} WHERE {} RETURNING {}").format(
            self._jobs, sets, sql.SQL(" AND ").join(where), self._job_cols()
        )
        with self._transaction() as conn:
            row = conn.execute(statement, params).fetchone()
            if row is not None and changes.get("state") == "queued":
                self._notify(conn)
        return schema.job_from_row(row) if row else None

    @_translated
    def delete_job(self, job_id: str, *, from_states: Collection[str] | None = None) -> bool:
        statement = sql.SQL("DELETE FROM {} WHERE id = %s").format(self._jobs)
        params: list[Any] = [job_id]
        if from_states is not None:
            statement += sql.SQL(" AND state = ANY(%s)")
            params.append(list(from_states))
        with self._single() as conn:
            return conn.execute(statement, params).rowcount > 0

    @_translated
    def find_jobs(self, query: JobQuery) -> list[JobDoc]:
        where, params = job_filters(query)
        statement = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY id {}").format(
            self._job_cols(),
            self._jobs,
            where,
            sql.SQL("DESC" if query.descending else "ASC"),
        )
        if query.limit is not None:
            statement += sql.SQL(" LIMIT {}").format(sql.Literal(int(query.limit)))
        with self._listing(query) as conn:
            rows = conn.execute(statement, params).fetchall()
        return [schema.job_from_row(row) for row in rows]

    @_translated
    def count_jobs(self, job_class: str | None = None) -> dict[str, int]:
        # Queued jobs are counted from the claim index, the others from the listing index.
        same_class = sql.SQL("" if job_class is None else " AND job_class = %s")
        statement = sql.SQL(
            "SELECT 'queued', count(*) FROM {jobs} WHERE state = 'queued'{same_class}"
            " UNION ALL SELECT state, count(*) FROM {jobs} WHERE state <> 'queued'{same_class}"
            " GROUP BY state"
        ).format(jobs=self._jobs, same_class=same_class)
        params = [] if job_class is None else [job_class, job_class]
        with self._single() as conn:
            rows = conn.execute(statement, params).fetchall()
        return {state: int(count) for state, count in rows if count}

    @_translated
    def queued_job_classes(self) -> list[str]:
        statement = sql.SQL(
            "SELECT DISTINCT job_class FROM {} WHERE state = 'queued' ORDER BY job_class"
        ).format(self._jobs)
        with self._single() as conn:
            return [row[0] for row in conn.execute(statement).fetchall()]

    @_translated
    def claim_jobs(
        self,
        worker_names: Sequence[str],
        job_classes: Collection[str],
        now: dt.datetime,
        limits: Sequence[ClaimLimit] = (),
    ) -> list[JobDoc]:
        if not worker_names or not job_classes:
            return []
        if limits:
            return self._throttle.claim(worker_names, job_classes, now, limits)
        with self._single() as conn:
            rows = conn.execute(
                self._sql.claim_for(len(worker_names)),
                self._claim_params(worker_names, job_classes, now),
            )
            return _claimed(rows.fetchall())

    @_translated
    def claim_kinds(
        self, kinds: Sequence[ClaimFor], now: dt.datetime, limits: Sequence[ClaimLimit] = ()
    ) -> list[list[JobDoc]]:
        """Two kinds without limits: one statement (``claim_two``); otherwise each
        kind's claim in turn."""
        wanted = [i for i, kind in enumerate(kinds) if kind.worker_names and kind.job_classes]
        if len(wanted) != 2 or limits:
            return [self.claim_jobs(k.worker_names, k.job_classes, now, limits) for k in kinds]
        first, second = kinds[wanted[0]], kinds[wanted[1]]
        params = self._claim_params(first.worker_names, first.job_classes, now)
        params["limit"] = len(first.worker_names)
        params["classes2"] = list(second.job_classes)
        params["workers2"] = list(second.worker_names)
        params["limit2"] = len(second.worker_names)
        with self._single() as conn:
            rows = conn.execute(self._sql.claim_two, params).fetchall()
        claimed: list[list[JobDoc]] = [[] for _ in kinds]
        for position, kind in zip(wanted, (1, 2), strict=True):
            mine = sorted((row for row in rows if row[-1] == kind), key=lambda row: row[-2])
            claimed[position] = [schema.job_from_row(row[:-2]) for row in mine]
        return claimed

    @staticmethod
    def _claim_params(
        worker_names: Sequence[str], job_classes: Collection[str], now: dt.datetime
    ) -> dict[str, Any]:
        return {
            "classes": list(job_classes),
            "now": now,
            "server": worker_names[0].rsplit(":", 1)[0],
            "workers": list(worker_names),
        }

    @_translated
    def finish_and_claim(
        self,
        finished: Sequence[Finish],
        worker_names: Sequence[str],
        job_classes: Collection[str],
        now: dt.datetime,
        limits: Sequence[ClaimLimit] = (),
    ) -> tuple[list[str], list[JobDoc]]:
        """``finish_jobs`` then ``claim_jobs`` in ONE transaction: the threads whose
        outcomes are written get their next jobs at once. When every outcome is a
        destroy (the common case) and no limit applies, it is one statement."""
        if not worker_names or not job_classes or limits:
            done = self.finish_jobs(finished)
            return done, self.claim_jobs(worker_names, job_classes, now, limits)
        destroys = [item for item in finished if item.destroy]
        updates = [item for item in finished if not item.destroy]
        params = self._claim_params(worker_names, job_classes, now)
        params["ids"] = [item.job_id for item in destroys]
        params["owners"] = [item.worker_name for item in destroys]
        claim = self._sql.destroy_and_claim_for(len(worker_names))
        if not updates:
            with self._single() as conn:
                rows = conn.execute(claim, params).fetchall()
        else:
            with self._transaction() as conn:
                done = self._update_outcomes(conn, updates)
                rows = conn.execute(claim, params).fetchall()
                rows += [(job_id, *[None] * (len(JOB_COLUMNS) - 1), 0) for job_id in done]
        done_ids = [row[0] for row in rows if row[-1] == 0]
        return done_ids, _claimed([row for row in rows if row[-1] != 0])

    def _update_outcomes(self, conn: Conn, updates: Sequence[Finish]) -> list[str]:
        """Inside a transaction: write each non-destroy outcome if the job is still ours
        (NOTIFY when one re-queues a job)."""
        done: list[str] = []
        for item in updates:
            sets, params = self._sets(item.changes)
            statement = sql.SQL(
                "UPDATE {} SET {} WHERE id = %s AND state = 'running' AND worker_name = %s"
            ).format(self._jobs, sets)
            if conn.execute(statement, [*params, item.job_id, item.worker_name]).rowcount:
                done.append(item.job_id)
        if any(item.changes.get("state") == "queued" for item in updates):
            self._notify(conn)
        return done

    @_translated
    def finish_jobs(self, finished: Sequence[Finish]) -> list[str]:
        if not finished:
            return []
        destroys = [item for item in finished if item.destroy]
        updates = [item for item in finished if not item.destroy]
        params = {
            "ids": [item.job_id for item in destroys],
            "owners": [item.worker_name for item in destroys],
        }
        if not updates:
            with self._single() as conn:
                return [row[0] for row in conn.execute(self._sql.destroy, params).fetchall()]
        with self._transaction() as conn:
            done = self._update_outcomes(conn, updates)
            if destroys:
                done += [row[0] for row in conn.execute(self._sql.destroy, params).fetchall()]
        return done

    @_translated
    def requeue_jobs(self, server_name: str) -> int:
        with self._transaction() as conn:
            count = conn.execute(self._sql.requeue, (server_name,)).rowcount
            if count:
                self._notify(conn)
        return count

    def wait_for_jobs(self, timeout: float) -> None:
        """Block on the LISTEN connection until a NOTIFY or ``timeout`` (see
        :mod:`rocketjob.store.postgres.listen`); never raises."""
        self._listener.wait(timeout)

    # -- servers -----------------------------------------------------------------------
    @_translated
    def register_server(self, doc: ServerDoc) -> None:
        values = {**doc, "info": doc.get("info") or {}, "commands": doc.get("commands") or []}
        statement = sql.SQL(
            "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (name) DO UPDATE SET {}"
        ).format(
            self._servers,
            sql.SQL(", ").join(map(sql.Identifier, SERVER_COLUMNS)),
            sql.SQL(", ").join(sql.Placeholder() * len(SERVER_COLUMNS)),
            sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(name))
                for name in SERVER_COLUMNS[1:]
            ),
        )
        with self._single() as conn:
            conn.execute(statement, [to_param(name, values[name]) for name in SERVER_COLUMNS])

    @_translated
    def heartbeat_server(self, name: str, changes: Mapping[str, Any]) -> ServerDoc | None:
        schema.check_columns(changes, SERVER_COLUMNS)
        sets = [sql.SQL("{} = %s").format(sql.Identifier(key)) for key in changes]
        params = [to_param(key, value) for key, value in changes.items()]
        statement = sql.SQL(
            "UPDATE {servers} AS s SET {sets} FROM (SELECT name, commands FROM {servers}"
            " WHERE name = %s FOR UPDATE) AS old WHERE s.name = old.name RETURNING {cols}"
        ).format(
            servers=self._servers,
            sets=sql.SQL(", ").join([*sets, sql.SQL("commands = '[]'::jsonb")]),
            cols=sql.SQL(", ").join(
                sql.Identifier("old" if col == "commands" else "s", col) for col in SERVER_COLUMNS
            ),
        )
        with self._single() as conn:
            row = conn.execute(statement, [*params, name]).fetchone()
        return schema.server_from_row(row) if row else None

    @_translated
    def send_command(self, name: str, command: str) -> bool:
        statement = sql.SQL(
            "UPDATE {} SET commands = commands || jsonb_build_array(%s::text) WHERE name = %s"
        ).format(self._servers)
        with self._single() as conn:
            return conn.execute(statement, (command, name)).rowcount > 0

    @_translated
    def list_servers(self) -> list[ServerDoc]:
        statement = sql.SQL("SELECT {} FROM {} ORDER BY name").format(
            sql.SQL(", ").join(map(sql.Identifier, SERVER_COLUMNS)), self._servers
        )
        with self._single() as conn:
            return [schema.server_from_row(row) for row in conn.execute(statement).fetchall()]

    @_translated
    def remove_server(self, name: str) -> None:
        with self._single() as conn:
            conn.execute(sql.SQL("DELETE FROM {} WHERE name = %s").format(self._servers), (name,))

    @_translated
    def reap_zombie_servers(self, cutoff: dt.datetime, heir: str) -> list[str]:
        """One statement: the DELETE takes each zombie's row lock, so of racing callers
        exactly one deletes it (and hands its running jobs to ``heir``); the others skip
        the vanished row."""
        statement = sql.SQL(
            "WITH dead AS (DELETE FROM {servers} WHERE heartbeat_at < %s RETURNING name),"
            " adopted AS (UPDATE {jobs} SET server_name = %s WHERE state = 'running'"
            " AND server_name IN (SELECT name FROM dead))"
            " SELECT name FROM dead ORDER BY name"
        ).format(servers=self._servers, jobs=self._jobs)
        with self._single() as conn:
            rows = conn.execute(statement, (cutoff, heir)).fetchall()
        return [row[0] for row in rows]

    # -- life cycle ------------------------------------------------------------------------
    @_translated
    def delete_jobs(self, states: Collection[str], finished_before: dt.datetime, limit: int) -> int:
        """Delete at most ``limit`` finished jobs in ``states`` (one short statement)."""
        if not states or limit <= 0:
            return 0
        statement = sql.SQL(
            "DELETE FROM {jobs} WHERE id IN (SELECT id FROM {jobs} WHERE state = ANY(%s) "
            "AND completed_at < %s LIMIT %s FOR UPDATE SKIP LOCKED)"
        ).format(jobs=self._jobs)
        with self._single() as conn:
            return int(conn.execute(statement, (list(states), finished_before, limit)).rowcount)

    def close(self) -> None:
        self._db.close()
        self._listener.close()
        self._async.forget()
