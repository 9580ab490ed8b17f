"""SQLite store: the schema, its migrations and the store URL.

The schema is versioned with ``PRAGMA user_version`` and migrated on connect under
``BEGIN IMMEDIATE`` (one process migrates, the others wait and find it done). The job
table's columns are the fields of :mod:`rocketjob.store.job_fields` (checked by
``tests/store/test_job_fields.py``); the DDL is written out because SQLite's types and
indexes are its own.
"""

from __future__ import annotations

import contextlib
import sqlite3
from urllib.parse import parse_qs, urlsplit

from rocketjob.errors import StoreUnavailable

SCHEMA_VERSION = 7
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    job_class TEXT NOT NULL,
    state TEXT NOT NULL,
    priority INTEGER NOT NULL,
    description TEXT,
    arguments TEXT,
    run_at INTEGER,
    expires_at INTEGER,
    destroy_on_complete INTEGER NOT NULL,
    collect_output INTEGER NOT NULL,
    result TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    completed_at INTEGER,
    failure_count INTEGER NOT NULL DEFAULT 0,
    worker_name TEXT,
    server_name TEXT,
    percent_complete INTEGER NOT NULL DEFAULT 0,
    exception TEXT,
    log_level TEXT,
    fields TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS jobs_claim ON jobs (priority, id) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, id);
CREATE INDEX IF NOT EXISTS jobs_class_state ON jobs (job_class, state, id);
CREATE INDEX IF NOT EXISTS jobs_server ON jobs (server_name) WHERE state = 'running';
CREATE TABLE IF NOT EXISTS servers (
    name TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    state TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    threads INTEGER NOT NULL,
    busy INTEGER NOT NULL,
    info TEXT NOT NULL,
    commands TEXT NOT NULL
) WITHOUT ROWID;
"""

#: Schema version 2: singleton keys, the housekeeping index, dirmon entries.
MIGRATION_2 = """
ALTER TABLE jobs ADD COLUMN singleton_key TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS jobs_singleton ON jobs (singleton_key)
    WHERE singleton_key IS NOT NULL AND state IN ('queued', 'running', 'paused');
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (state, completed_at)
    WHERE completed_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS dirmon_entries (
    name TEXT PRIMARY KEY,
    pattern TEXT NOT NULL,
    job_class TEXT NOT NULL,
    archive_directory TEXT NOT NULL,
    properties TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    last_error TEXT,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
"""

#: Schema version 3: the claim reads one covering partial index in claim order, so it
#: never sorts the queue or visits table rows to skip other classes and future jobs;
#: throttled claims count running jobs per class from an index.
MIGRATION_3 = """
DROP INDEX IF EXISTS jobs_claim;
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (priority, id, job_class, run_at)
    WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS jobs_running ON jobs (job_class) WHERE state = 'running'
"""

#: Schema version 4: the listing indexes leave queued jobs out (``jobs_queue`` holds
#: them), so an enqueue writes two b-trees (table and ``jobs_queue``) instead of four: one
#: fsync'd commit writes about half the pages. Listings of other states repeat the
#: indexes' condition literally (``state_index_terms``); queued jobs are counted from
#: ``jobs_queue``, which carries ``state`` so that the count reads the index alone
#: (SQLite does not treat a partial index as covering the column of its own condition).
MIGRATION_4 = """
DROP INDEX IF EXISTS jobs_queue;
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (priority, id, job_class, run_at, state)
    WHERE state = 'queued';
DROP INDEX IF EXISTS jobs_state;
DROP INDEX IF EXISTS jobs_class_state;
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, id) WHERE state <> 'queued';
CREATE INDEX IF NOT EXISTS jobs_class_state ON jobs (job_class, state, id)
    WHERE state <> 'queued'
"""

#: Schema version 5: the failed-attempt history of each job (rocketjob.attempts).
MIGRATION_5 = "ALTER TABLE jobs ADD COLUMN attempts TEXT"

#: Schema version 6: the enqueuer's trace context (rocketjob.otel).
MIGRATION_6 = "ALTER TABLE jobs ADD COLUMN trace_context TEXT"

#: Schema version 7: crash accounting (issue 16): how many times a worker process died
#: while running the job.
MIGRATION_7 = "ALTER TABLE jobs ADD COLUMN crash_count INTEGER NOT NULL DEFAULT 0"

MIGRATIONS = ((1, _SCHEMA), (2, MIGRATION_2), (3, MIGRATION_3), (4, MIGRATION_4),
              (5, MIGRATION_5), (6, MIGRATION_6), (7, MIGRATION_7))  # fmt: skip


def parse_url(url: str) -> tuple[str, dict[str, str]]:
    """The file path and options of ``sqlite:///relative.db`` or ``sqlite:////abs.db``."""
    parts = urlsplit(url)
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path:
        raise StoreUnavailable(f"store url {url!r} names no file; use sqlite:///rocketjob.db")
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    unknown = set(options) - {"synchronous", "busy_timeout"}
    if unknown:
        raise StoreUnavailable(
            f"store url {url!r}: unknown option {sorted(unknown)[0]!r}; "
            "use synchronous=full|normal or busy_timeout=MILLISECONDS"
        )
    return path, options


def migrate(conn: sqlite3.Connection, url: str) -> None:
    """Bring the file's schema to :data:`SCHEMA_VERSION` (one ``BEGIN IMMEDIATE``)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise StoreUnavailable(
            f"store {url}: schema version {version} is newer than this rocketjob "
            f"understands ({SCHEMA_VERSION}); upgrade rocketjob"
        )
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = conn.execute("PRAGMA user_version").fetchone()[0]
        for version, script in MIGRATIONS:
            if current < version:
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite left one open.

    On some errors (SQLITE_FULL "database or disk is full", SQLITE_IOERR, SQLITE_NOMEM)
    SQLite has already rolled the transaction back itself: a ROLLBACK then fails with
    "cannot rollback - no transaction is active" and would hide the real cause. A
    ROLLBACK that fails anyway is ignored here (documented boundary): the error being
    raised is the one the caller must see, and nothing of the transaction was committed.
    """
    if not conn.in_transaction:
        return
    with contextlib.suppress(sqlite3.Error):
        conn.execute("ROLLBACK")
