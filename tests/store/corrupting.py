"""Corrupting a stored job the way a bad manual edit or disk corruption would, per engine:
the rows are written behind the store's back with the engine's own client."""

from __future__ import annotations

import sqlite3
from urllib.parse import parse_qs, urlsplit

#: What each engine's corruption breaks (the field a CorruptJob must name).
CORRUPTED_FIELD = {"sqlite": "arguments", "postgres": "arguments", "mongodb": "created_at"}


def corrupt_job(kind: str, url: str, job_id: str) -> str:
    """Break one field of job ``job_id``; returns the field's name."""
    if kind == "sqlite":  # JSON text cut short
        with sqlite3.connect(urlsplit(url).path) as conn:
            conn.execute("UPDATE jobs SET arguments = '{\"args\": [1, ' WHERE id = ?", (job_id,))
        conn.close()
    elif kind == "postgres":  # valid JSONB whose tagged value does not decode
        import psycopg

        schema = parse_qs(urlsplit(url).query)["schema"][0]
        base = url.split("?")[0]
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(
                f'UPDATE "{schema}".rocketjob_jobs SET arguments = '
                """'{"args": [{"~dt": "not a time"}], "kwargs": {}}'::jsonb WHERE id = %s""",
                (job_id,),
            )
    else:  # a time stored as a string
        import pymongo

        client = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)
        try:
            database = urlsplit(url).path.lstrip("/")
            client[database]["rocketjob_jobs"].update_one(
                {"_id": job_id}, {"$set": {"created_at": "last tuesday"}}
            )
        finally:
            client.close()
    return CORRUPTED_FIELD[kind]
