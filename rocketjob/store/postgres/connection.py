"""PostgreSQL store: the connection pool, transactions and error translation.

:class:`Database` is the typed collaborator every concern module of the PostgreSQL store
is given (claims and outcomes in the store, throttled claims, dirmon entries, Mission
Control queries): the pool, one-statement calls on autocommit connections, transactions,
the schema-qualified table names, and :func:`translated` for driver errors.
"""

from __future__ import annotations

import functools
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import orjson
import psycopg
import psycopg_pool
from psycopg import sql
from psycopg.types.json import set_json_loads

import rocketjob.store.postgres.schema as schema
from rocketjob.errors import DuplicateJob, RocketJobError, StoreError, StoreUnavailable
from rocketjob.store.postgres.schema import JOB_COLUMNS, one_line

P = ParamSpec("P")
R = TypeVar("R")
Conn = psycopg.Connection[Any]

#: When each pooled connection last finished a statement without error.
_FRESH: weakref.WeakKeyDictionary[Conn, float] = weakref.WeakKeyDictionary()
#: A pooled connection used successfully this recently is handed out without the pool's
#: check (an empty query: one more round trip per call, half the calls' latency on a
#: busy worker). A connection broken since then fails its call once with
#: StoreUnavailable, and the pool replaces it.
FRESH_SECONDS = 1.0


def _check_unless_fresh(conn: Conn) -> None:
    if time.monotonic() - _FRESH.get(conn, -FRESH_SECONDS) >= FRESH_SECONDS:
        psycopg_pool.ConnectionPool.check_connection(conn)


def translated(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn driver errors into rocketjob's StoreUnavailable / StoreError, one line each."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (psycopg_pool.PoolTimeout, psycopg.Error) as exc:
            raise translation(exc) from None

    return wrapper


def translation(exc: psycopg_pool.PoolTimeout | psycopg.Error) -> RocketJobError:
    """The rocketjob error for a driver error (the blocking and the async calls share it)."""
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return StoreUnavailable(f"PostgreSQL store: no connection available: {exc}")
    if isinstance(exc, psycopg.errors.UniqueViolation):
        if "singleton" in (exc.diag.constraint_name or ""):
            return DuplicateJob(f"duplicate singleton_key: {one_line(exc)}")
        return StoreError(f"PostgreSQL store: duplicate key: {one_line(exc)}")
    if isinstance(exc, psycopg.OperationalError):
        return StoreUnavailable(f"PostgreSQL store unavailable: {one_line(exc)}")
    return StoreError(f"PostgreSQL store: {one_line(exc)}")


class Database:
    """The store's pool and tables (see the module docstring)."""

    def __init__(self, url: str) -> None:
        self.opts = schema.parse_url(url)
        self.ident = sql.Identifier(self.opts.schema)
        self.jobs = sql.SQL("{}.rocketjob_jobs").format(self.ident)
        self.servers = sql.SQL("{}.rocketjob_servers").format(self.ident)
        self.channel = f"rocketjob_queued_{self.opts.schema}"[:63]
        self._first_connect()
        self.pool = psycopg_pool.ConnectionPool(
            self.opts.conninfo,
            min_size=1,
            max_size=max(1, self.opts.pool_size),
            timeout=self.opts.pool_timeout,
            configure=self._configure,
            check=_check_unless_fresh,
            reconnect_timeout=60,
            name="rocketjob",
            open=True,
        )

    def _first_connect(self) -> None:
        """Connect once directly, so a bad URL, wrong credentials or an unreachable
        server fails here with libpq's own one-line reason, then migrate."""
        try:
            with psycopg.connect(self.opts.conninfo, autocommit=True) as conn:
                schema.migrate(conn, self.opts.schema)
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"cannot open PostgreSQL store {self.opts.display}: {one_line(exc)}"
            ) from None

    def _configure(self, conn: Conn) -> None:
        """Per connection: orjson for json columns, timeouts, prepared statements."""
        set_json_loads(orjson.loads, conn)
        if not self.opts.prepare:
            conn.prepare_threshold = None
        for statement in self.session_settings():
            conn.execute(statement)
        conn.commit()
        conn.autocommit = True  # one-statement calls need no COMMIT round trip

    def session_settings(self) -> list[str]:
        """The SET statements every connection of the store runs first (the pooled ones
        and each event loop's async one)."""
        timeout = int(self.opts.statement_timeout)
        return [
            f"SET statement_timeout = {timeout}",
            f"SET idle_in_transaction_session_timeout = {timeout * 2}",
        ]

    @contextmanager
    def transaction(self) -> Iterator[Conn]:
        """A pooled connection inside BEGIN ... COMMIT (rolled back on error)."""
        with self.pool.connection() as conn:
            with conn.transaction():
                yield conn
            _FRESH[conn] = time.monotonic()

    @contextmanager
    def single(self) -> Iterator[Conn]:
        """A pooled autocommit connection, for calls that are one statement (each
        statement is atomic on its own)."""
        with self.pool.connection() as conn:
            yield conn
            _FRESH[conn] = time.monotonic()

    def notify(self, conn: Conn) -> None:
        """Wake the listening workers once ``conn``'s transaction commits."""
        conn.execute("SELECT pg_notify(%s, '')", (self.channel,))

    def table(self, name: str) -> sql.Composed:
        """The schema-qualified table ``name``."""
        return sql.SQL("{}.{}").format(self.ident, sql.Identifier(name))

    def job_cols(self, prefix: str | None = None) -> sql.Composable:
        """Every job column, in :data:`JOB_COLUMNS` order (qualified by ``prefix``)."""
        if prefix is None:
            return sql.SQL(", ").join(map(sql.Identifier, JOB_COLUMNS))
        return sql.SQL(", ").join(sql.Identifier(prefix, name) for name in JOB_COLUMNS)

    def close(self) -> None:
        """Close the pool (waiting at most 5 s for connections in use)."""
        self.pool.close(timeout=5.0)
