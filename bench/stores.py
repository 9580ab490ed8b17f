"""Store-specific what the benchmark does outside the measured phases.

``analyze(url)`` refreshes the planner statistics after the enqueue, untimed, the way the
peer harness runs ``ANALYZE`` for every PostgreSQL-backed peer: a long-lived production
table has statistics; a table created a second ago has none, and the plan chosen
without them can decide the drain rate. On PostgreSQL it is a ``VACUUM ANALYZE``: the
harness starts each run on a new database, ``bin/bench`` reuses the one in its URL.
"""

from __future__ import annotations

import sqlite3
from urllib.parse import urlsplit


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:///relative.db`` or ``sqlite:////abs/path.db`` URL."""
    return urlsplit(url).path[1:]


def analyze(url: str) -> bool:
    """Run ANALYZE on the store's database; False when the engine has no such step."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        conn = sqlite3.connect(sqlite_path(url), timeout=30)
        try:
            conn.execute("ANALYZE")
            conn.commit()
        finally:
            conn.close()
        return True
    if scheme in ("postgresql", "postgres"):
        import psycopg

        from rocketjob.store.postgres.schema import parse_url

        conninfo = parse_url(url).conninfo  # without the store's own options (schema=...)
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as pg:
            # VACUUM too: a shared database whose server runs without autovacuum (this
            # machine's) keeps every earlier run's dead rows, and each claim walks them.
            pg.execute("VACUUM ANALYZE")
        return True
    return False
