"""PostgreSQL store: URL options, schema (DDL), migrations and row conversion.

Every statement names its tables with the schema explicitly (``"schema".rocketjob_jobs``)
instead of relying on ``search_path``, so the store works behind PgBouncer in transaction
mode, where a session-level ``SET`` may land on another client's server connection.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import Json, Jsonb

from rocketjob.errors import StoreUnavailable
from rocketjob.store.base import SERVER_FIELDS, JobDoc, ServerDoc
from rocketjob.store.job_fields import JOB_FIELD_SPECS, JOB_FIELDS, Kind, fields_of

#: Options of the store itself; every other query parameter goes to libpq as is.
STORE_OPTIONS = {
    "schema": "schema holding the rocketjob_* tables (default public; created if missing)",
    "pool_size": "largest number of pooled connections (default 5)",
    "pool_timeout": "seconds to wait for a free pooled connection (default 10)",
    "statement_timeout": "milliseconds a statement may run (default 30000; 0 = none)",
    "prepare": "false disables server-side prepared statements (PgBouncer < 1.21)",
}
LIBPQ_DEFAULTS = {"connect_timeout": "5", "application_name": "rocketjob"}

#: Migrations, in order: version -> statements. Applied under a transaction-level
#: advisory lock, recorded in rocketjob_schema_versions.
MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE IF NOT EXISTS {schema}.rocketjob_jobs (
    id text COLLATE "C" PRIMARY KEY,
    job_class text NOT NULL,
    state text NOT NULL,
    priority smallint NOT NULL,
    description text,
    arguments json,
    run_at timestamptz,
    expires_at timestamptz,
    destroy_on_complete boolean NOT NULL,
    collect_output boolean NOT NULL,
    result json,
    created_at timestamptz NOT NULL,
    started_at timestamptz,
    completed_at timestamptz,
    failure_count integer NOT NULL DEFAULT 0,
    worker_name text,
    server_name text,
    percent_complete smallint NOT NULL DEFAULT 0,
    exception jsonb,
    log_level text,
    fields json
);
CREATE INDEX IF NOT EXISTS rocketjob_jobs_claim
    ON {schema}.rocketjob_jobs (priority, id) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS rocketjob_jobs_state ON {schema}.rocketjob_jobs (state, id);
CREATE INDEX IF NOT EXISTS rocketjob_jobs_class_state
    ON {schema}.rocketjob_jobs (job_class, state, id);
CREATE INDEX IF NOT EXISTS rocketjob_jobs_server
    ON {schema}.rocketjob_jobs (server_name) WHERE state = 'running';
CREATE TABLE IF NOT EXISTS {schema}.rocketjob_servers (
    name text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    state text NOT NULL,
    started_at timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    threads integer NOT NULL,
    busy integer NOT NULL,
    info jsonb NOT NULL,
    commands jsonb NOT NULL
);
""",
    # 2: singleton keys, finished-jobs index, throttle lock rows, dirmon entries
    2: """
ALTER TABLE {schema}.rocketjob_jobs ADD COLUMN IF NOT EXISTS singleton_key text;
CREATE UNIQUE INDEX IF NOT EXISTS rocketjob_jobs_singleton
    ON {schema}.rocketjob_jobs (singleton_key)
    WHERE singleton_key IS NOT NULL AND state IN ('queued', 'running', 'paused');
CREATE INDEX IF NOT EXISTS rocketjob_jobs_finished
    ON {schema}.rocketjob_jobs (state, completed_at) WHERE completed_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS {schema}.rocketjob_throttles (name text PRIMARY KEY);
CREATE TABLE IF NOT EXISTS {schema}.rocketjob_dirmon_entries (
    name text PRIMARY KEY,
    pattern text NOT NULL,
    job_class text NOT NULL,
    archive_directory text NOT NULL,
    properties json NOT NULL,
    enabled boolean NOT NULL,
    last_error text,
    updated_at timestamptz NOT NULL
);
""",
    # 3: the listing indexes leave queued jobs out (the claim index holds them), so an
    # enqueue updates two indexes instead of four
    3: """
DROP INDEX IF EXISTS {schema}.rocketjob_jobs_state;
CREATE INDEX IF NOT EXISTS rocketjob_jobs_state ON {schema}.rocketjob_jobs (state, id)
    WHERE state <> 'queued';
DROP INDEX IF EXISTS {schema}.rocketjob_jobs_class_state;
CREATE INDEX IF NOT EXISTS rocketjob_jobs_class_state
    ON {schema}.rocketjob_jobs (job_class, state, id) WHERE state <> 'queued';
""",
    # 4: the claim's pick, whatever the planner statistics say (see postgres/sql.py). The
    # function body has no ";" at a line's end: migrate() splits a migration there.
    4: """
CREATE OR REPLACE FUNCTION {schema}.rocketjob_claimable(classes text[], at timestamptz, n integer)
    RETURNS TABLE (id text, priority smallint) LANGUAGE plpgsql VOLATILE ROWS 10
    SET enable_sort = off SET enable_bitmapscan = off
    AS $$BEGIN RETURN QUERY SELECT j.id, j.priority FROM {schema}.rocketjob_jobs AS j
        WHERE j.state = 'queued' AND j.job_class = ANY(classes)
        AND (j.run_at IS NULL OR j.run_at <= at) ORDER BY j.priority, j.id LIMIT n
        FOR UPDATE OF j SKIP LOCKED; END$$;
""",
    # 5: the failed-attempt history of each job (rocketjob.attempts)
    5: """
ALTER TABLE {schema}.rocketjob_jobs ADD COLUMN IF NOT EXISTS attempts jsonb;
""",
    # 6: the enqueuer's trace context (rocketjob.otel)
    6: """
ALTER TABLE {schema}.rocketjob_jobs ADD COLUMN IF NOT EXISTS trace_context jsonb;
""",
    # 7: crash accounting (issue 16): how many times a worker died while running the job
    7: """
ALTER TABLE {schema}.rocketjob_jobs ADD COLUMN IF NOT EXISTS crash_count integer NOT NULL
    DEFAULT 0
""",
    # 8: the claim's pick is planned once per connection, not on every call (see
    # postgres/sql.py: with statistics, the plan cache re-planned it for each claim)
    8: """
ALTER FUNCTION {schema}.rocketjob_claimable(text[], timestamptz, integer)
    SET plan_cache_mode = force_generic_plan
""",
}
SCHEMA_VERSION = max(MIGRATIONS)

JOB_COLUMNS = tuple(JOB_FIELDS)
#: The column type of each kind of field, as the migrations above create them. Payload
#: columns are ``json`` (kept as written: key order and number spelling) because ``jsonb``
#: normalises numbers (1e20 reads back as an int) and reorders keys, which would break the
#: codec's exact round trip. Store-owned shapes are ``jsonb``.
_COLUMN_TYPE = {
    Kind.TEXT: "text", Kind.SMALLINT: "smallint", Kind.INT: "integer", Kind.BOOL: "boolean",
    Kind.TIME: "timestamptz", Kind.DATA: "json", Kind.DOC: "jsonb",
}  # fmt: skip
#: Each job column's type.
JOB_COLUMN_TYPES = {spec.name: _COLUMN_TYPE[spec.kind] for spec in JOB_FIELD_SPECS}
SERVER_COLUMNS = tuple(SERVER_FIELDS)
_JSON_COLUMNS = fields_of(Kind.DATA)
_JSONB_COLUMNS = fields_of(Kind.DOC) | {"info", "commands"}
_TIME_COLUMNS = fields_of(Kind.TIME) | {"heartbeat_at"}


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass(frozen=True)
class PostgresURL:
    """A parsed ``postgresql://`` URL: libpq conninfo plus the store's own options."""

    conninfo: str
    schema: str
    pool_size: int
    pool_timeout: float
    statement_timeout: int
    prepare: bool
    display: str  # the URL without a password, for messages


def parse_url(url: str) -> PostgresURL:
    """Split ``url`` into libpq conninfo and store options; raise StoreUnavailable."""
    parts = urlsplit(url)
    display = url if parts.password is None else url.replace(f":{parts.password}@", ":***@")
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    ours = {key: value for key, value in pairs if key in STORE_OPTIONS}
    libpq = {**LIBPQ_DEFAULTS, **{k: v for k, v in pairs if k not in STORE_OPTIONS}}
    scheme = "postgresql" if parts.scheme in ("postgresql", "postgres") else parts.scheme
    conninfo = urlunsplit((scheme, parts.netloc, parts.path, urlencode(libpq), ""))
    try:
        psycopg.conninfo.conninfo_to_dict(conninfo)
        return PostgresURL(
            conninfo=conninfo,
            schema=ours.get("schema", "public"),
            pool_size=int(ours.get("pool_size", "5")),
            pool_timeout=float(ours.get("pool_timeout", "10")),
            statement_timeout=int(ours.get("statement_timeout", "30000")),
            prepare=ours.get("prepare", "true").lower() not in ("false", "0", "no"),
            display=display,
        )
    except (ValueError, psycopg.ProgrammingError) as exc:
        raise StoreUnavailable(f"store url {display!r} is invalid: {one_line(exc)}") from None


def one_line(exc: BaseException) -> str:
    """The first meaningful line of a driver error, for a one-line message."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines[:2]) if lines else type(exc).__name__


def migrate(conn: psycopg.Connection[Any], schema: str) -> None:
    """Create or upgrade the schema, race-safe across processes.

    One transaction holding ``pg_advisory_xact_lock`` (released at commit, so it works
    behind PgBouncer in transaction mode): concurrent connectors wait, then see the
    recorded versions and apply nothing twice.
    """
    ident = sql.Identifier(schema)
    versions = sql.SQL("{}.rocketjob_schema_versions").format(ident)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"rocketjob:{schema}",))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (version integer PRIMARY KEY, "
                "applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(versions)
        )
        row = conn.execute(sql.SQL("SELECT max(version) FROM {}").format(versions)).fetchone()
        current = (row[0] if row else None) or 0
        if current > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"schema {schema!r} is at version {current}, newer than this rocketjob "
                f"understands ({SCHEMA_VERSION}); upgrade rocketjob"
            )
        for version in sorted(v for v in MIGRATIONS if v > current):
            for statement in MIGRATIONS[version].split(";\n"):
                if statement.strip():
                    conn.execute(sql.SQL(statement.strip()).format(schema=ident))
            conn.execute(
                sql.SQL("INSERT INTO {} (version) VALUES (%s)").format(versions), (version,)
            )


def to_param(name: str, value: Any) -> Any:
    """A job or server value as a query parameter (JSON wrapped, times as UTC)."""
    if value is None:
        return None
    if name in _JSON_COLUMNS:
        return Json(value, dumps=_dumps)
    if name in _JSONB_COLUMNS:
        return Jsonb(value, dumps=_dumps)
    return value


def _utc(value: Any) -> Any:
    return value.astimezone(dt.UTC) if isinstance(value, dt.datetime) else value


def job_from_row(row: Sequence[Any]) -> JobDoc:
    """A job document from a row of :data:`JOB_COLUMNS`."""
    doc = dict(zip(JOB_COLUMNS, row, strict=True))
    for name in _TIME_COLUMNS.intersection(doc):
        doc[name] = _utc(doc[name])
    return doc


def server_from_row(row: Sequence[Any]) -> ServerDoc:
    """A server document from a row of :data:`SERVER_COLUMNS`."""
    doc = dict(zip(SERVER_COLUMNS, row, strict=True))
    doc["started_at"] = _utc(doc["started_at"])
    doc["heartbeat_at"] = _utc(doc["heartbeat_at"])
    return doc


def check_columns(changes: Mapping[str, Any], allowed: Sequence[str]) -> None:
    """Raise ValueError for a key that is not a column (never interpolate unknown names)."""
    unknown = set(changes) - set(allowed)
    if unknown:
        raise ValueError(f"unknown field(s) {sorted(unknown)}; expected a subset of {allowed}")
