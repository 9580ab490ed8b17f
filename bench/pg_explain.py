"""EXPLAIN ANALYZE of the PostgreSQL claim on a queue of N jobs, before and after ANALYZE.

    .venv/bin/python -m bench.pg_explain postgresql://root@127.0.0.1:5432/test -n 20000

Uses (and drops at the end) the schema ``explain_claim``, filled by
``perform_all_later``. The claim runs inside a transaction that is rolled back, so the
queue stays as it was between the two plans. The pick runs inside the schema's
``rocketjob_claimable`` function: its own plan is printed after each (``auto_explain``,
when the connection is a superuser's).
"""

from __future__ import annotations

import argparse
import datetime as dt

import psycopg

import rocketjob
from bench.jobs import StampJob
from rocketjob.store.postgres import PostgresStore
from rocketjob.store.postgres.schema import parse_url

SCHEMA = "explain_claim"
CLASS = "bench.jobs.StampJob"


def _plan(
    conn: psycopg.Connection[tuple[object, ...]], query: str, params: dict[str, object]
) -> str:
    """EXPLAIN ANALYZE of ``query`` in a rolled-back transaction, followed by the plans of
    the statements it runs inside functions (the claim's pick in ``rocketjob_claimable``),
    through ``auto_explain`` when the connection may LOAD it (a superuser)."""
    nested: list[str] = []
    conn.add_notice_handler(lambda diag: nested.append(diag.message_primary or ""))
    with conn.transaction(force_rollback=True):
        try:
            with conn.transaction():
                conn.execute("LOAD 'auto_explain'")
                for setting in ("log_min_duration = 0", "log_nested_statements = on",
                                "log_analyze = on", "log_level = notice"):  # fmt: skip
                    conn.execute(f"SET LOCAL auto_explain.{setting}")
        except psycopg.errors.InsufficientPrivilege:
            nested.append("(auto_explain needs a superuser: nested plans not shown)")
        rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + query, params).fetchall()
    inner = [text for text in nested if "SKIP LOCKED" in text or "auto_explain" in text]
    plan = "\n".join(str(row[0]) for row in rows)
    return plan + "".join(f"\n\n-- inside the function:\n{text}" for text in inner)


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
    url = f"{opts.url}{sep}schema={SCHEMA}"
    store = PostgresStore(url)
    rocketjob.connect(url)
    now = dt.datetime.now(dt.UTC)
    try:
        for start in range(0, opts.n, 1000):  # a bulk enqueue, as an application's
            StampJob.perform_all_later([(i, 0.0) for i in range(start, min(opts.n, start + 1000))])
        workers = [f"h:1:{i}" for i in range(1, 11)]
        params = {"classes": [CLASS], "now": now, "server": "h:1", "workers": workers}
        with psycopg.connect(conninfo, autocommit=True) as conn:
            claim = store._sql.claim_for(len(workers))
            print(f"-- {opts.n} queued jobs, no statistics\n" + _plan(conn, claim, params))
            conn.execute(f"ANALYZE {SCHEMA}.rocketjob_jobs")
            print("\n-- after ANALYZE\n" + _plan(conn, claim, params))
    finally:
        rocketjob.disconnect()
        store.close()
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


if __name__ == "__main__":
    main()
