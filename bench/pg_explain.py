"""EXPLAIN ANALYZE of the PostgreSQL claim on a queue of N jobs, before and after ANALYZE.

    .venv/bin/python -m bench.pg_explain postgresql://root@127.0.0.1:5432/test -n 20000

Uses (and drops at the end) the schema ``explain_claim``. The claim runs inside a
transaction that is rolled back, so the queue stays as it was between the two plans.
"""

from __future__ import annotations

import argparse
import datetime as dt

import psycopg

from rocketjob.ids import new_id
from rocketjob.store.postgres import PostgresStore
from rocketjob.store.postgres.schema import parse_url

SCHEMA = "explain_claim"
CLASS = "bench.jobs.StampJob"


def _doc(now: dt.datetime) -> dict[str, object]:
    return {
        "id": new_id(), "job_class": CLASS, "state": "queued", "priority": 50,
        "description": None, "arguments": {"args": [1, 2.0], "kwargs": {}}, "run_at": None,
        "expires_at": None, "destroy_on_complete": True, "collect_output": False,
        "result": None, "created_at": now, "started_at": None, "completed_at": None,
        "failure_count": 0, "worker_name": None, "server_name": None,
        "percent_complete": 0, "exception": None, "log_level": None, "fields": {},
        "singleton_key": None,
    }  # fmt: skip


def _plan(conn: psycopg.Connection[tuple[object, ...]], query: str, params: object) -> str:
    with conn.transaction(force_rollback=True):
        rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + query, params).fetchall()
    return "\n".join(str(row[0]) for row in rows)


def main() -> None:
    """Fill the queue, print the claim's plan without and with planner statistics."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("-n", type=int, default=20000)
    opts = parser.parse_args()
    conninfo = parse_url(opts.url).conninfo
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    sep = "&" if "?" in opts.url else "?"
    store = PostgresStore(f"{opts.url}{sep}schema={SCHEMA}")
    now = dt.datetime.now(dt.UTC)
    try:
        for start in range(0, opts.n, 1000):
            store.insert_jobs([_doc(now) for _ in range(min(1000, opts.n - start))])
        workers = [f"h:1:{i}" for i in range(1, 11)]
        params = {"classes": [CLASS], "now": now, "server": "h:1", "workers": workers}
        with psycopg.connect(conninfo, autocommit=True) as conn:
            claim = store._sql.claim_for(len(workers))
            print(f"-- {opts.n} queued jobs, no statistics\n" + _plan(conn, claim, params))
            conn.execute(f"ANALYZE {SCHEMA}.rocketjob_jobs")
            print("\n-- after ANALYZE\n" + _plan(conn, claim, params))
    finally:
        store.close()
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


if __name__ == "__main__":
    main()
