"""The built-in job fields are listed once (rocketjob/store/job_fields.py): every engine's
table, or stored document, holds exactly those fields, and the job model's fields and
``status()`` derive from the same list."""

from __future__ import annotations

import sqlite3
from typing import Any

from rocketjob import Job
from rocketjob.store.job_fields import BUILTIN_FIELDS, JOB_FIELD_SPECS, JOB_FIELDS

from .conftest import MONGODB_URL, StoreEnv
from .helpers import job_doc

#: PostgreSQL's name (udt_name) for each column type rocketjob's schema creates.
_PG_UDT = {"text": "text", "smallint": "int2", "integer": "int4", "boolean": "bool",
           "timestamptz": "timestamptz", "json": "json", "jsonb": "jsonb"}  # fmt: skip


def _sqlite_columns(url: str) -> set[str]:
    from rocketjob.store.sqlite.schema import parse_url

    path, _ = parse_url(url)
    with sqlite3.connect(path) as conn:
        return {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}


def _postgres_columns(url: str) -> dict[str, str]:
    import psycopg

    from rocketjob.store.postgres.schema import parse_url

    opts = parse_url(url)
    with psycopg.connect(opts.conninfo, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT column_name, udt_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'rocketjob_jobs'",
            (opts.schema,),
        ).fetchall()
    return dict(rows)


def _mongodb_fields(url: str, job_id: str) -> set[str]:
    import pymongo

    from rocketjob.store.mongodb.connection import DEFAULT_DATABASE

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        url, serverSelectionTimeoutMS=5000
    )
    try:
        raw = client.get_default_database(DEFAULT_DATABASE)["rocketjob_jobs"].find_one(
            {"_id": job_id}
        )
    finally:
        client.close()
    assert raw is not None
    return set(raw)


def test_every_engine_stores_exactly_the_listed_fields(store_env: StoreEnv) -> None:
    store = store_env.open()
    doc = job_doc()
    store.insert_jobs([doc])
    assert set(doc) == set(JOB_FIELDS)  # the contract suite's documents are complete
    assert store.get_job(doc["id"]) == doc
    if store_env.kind == "sqlite":
        assert _sqlite_columns(store_env.url) == set(JOB_FIELDS)
    elif store_env.kind == "postgres":
        from rocketjob.store.postgres.schema import JOB_COLUMN_TYPES

        columns = _postgres_columns(store_env.url)
        assert set(columns) == set(JOB_FIELDS)
        assert columns == {name: _PG_UDT[JOB_COLUMN_TYPES[name]] for name in JOB_FIELDS}
    else:
        assert store_env.url.startswith(MONGODB_URL.rstrip("/"))
        stored = _mongodb_fields(store_env.url, doc["id"])
        # ``_id`` holds the id; ``_us``, ``_text`` and ``_active_key`` are the store's own
        # (microseconds, text-encoded payloads, the singleton index).
        own = {"_id", "_us", "_text", "_active_key"}
        assert stored - own == set(JOB_FIELDS) - {"id"}


def test_the_job_model_and_status_derive_from_the_same_list() -> None:
    class Listed(Job):
        def perform(self) -> None:
            pass

    assert [spec.name for spec in JOB_FIELD_SPECS] == list(JOB_FIELDS)
    assert set(BUILTIN_FIELDS) == set(JOB_FIELDS) - {"fields"}
    job = Listed()
    assert all(hasattr(job, name) for name in BUILTIN_FIELDS)
    assert set(JOB_FIELDS) <= set(job.status())  # plus what it computes (scheduled, ...)
    assert set(job.to_doc()) == set(JOB_FIELDS)
