"""The SQLite store's schema: migrating an older file, and what an enqueue writes."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from rocketjob.ids import new_id
from rocketjob.store import JobQuery
from rocketjob.store.base import JobBatch
from rocketjob.store.sqlite.rows import JOB_COLUMNS, insert_job_rows, job_filters, job_to_row
from rocketjob.store.sqlite.schema import _SCHEMA, MIGRATION_2, MIGRATION_3, SCHEMA_VERSION
from rocketjob.store.sqlite.store import SQLiteStore
from store.helpers import job_doc

WAL_HEADER, FRAME_HEADER, PAGE = 32, 24, 4096


def _version_3_file(path: Path) -> list[dict[str, object]]:
    """A store file as schema version 3 left it, with jobs in four states."""
    docs = [
        job_doc(state="queued"),
        job_doc(state="queued", job_class="app.jobs.MailJob"),
        job_doc(state="failed"),
        job_doc(state="completed", destroy_on_complete=False),
    ]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for script in (_SCHEMA, MIGRATION_2, MIGRATION_3):
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)
    later = ("attempts", "trace_context", "crash_count")  # added by versions 5, 6 and 7
    columns = [name for name in JOB_COLUMNS if name not in later]  # version 3's columns
    for doc in docs:
        row = dict(zip(JOB_COLUMNS, job_to_row(doc), strict=True))
        conn.execute(
            f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            [row[name] for name in columns],
        )
    conn.execute("PRAGMA user_version = 3")
    conn.close()
    return docs


def _plan(store: SQLiteStore, sql: str, params: list[object]) -> str:
    rows = store._db.conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    return " | ".join(row[3] for row in rows)


def test_a_version_3_file_is_migrated_with_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    docs = _version_3_file(path)
    store = SQLiteStore(f"sqlite:///{path}")
    try:
        assert store._db.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 7
        assert [doc["crash_count"] for doc in store.find_jobs(JobQuery())] == [0, 0, 0, 0]
        rows = store._db.conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE name IN "
            "('jobs_state', 'jobs_class_state', 'jobs_queue')"
        ).fetchall()
        sql = dict(rows)
        assert "WHERE state <> 'queued'" in sql["jobs_state"]
        assert "WHERE state <> 'queued'" in sql["jobs_class_state"]
        assert "state)" in sql["jobs_queue"] and "WHERE state = 'queued'" in sql["jobs_queue"]
        assert store.count_jobs() == {"queued": 2, "failed": 1, "completed": 1}
        assert store.count_jobs("app.jobs.MailJob") == {"queued": 1}
        queued = store.find_jobs(JobQuery(states=["queued"]))
        assert [doc["id"] for doc in queued] == [docs[0]["id"], docs[1]["id"]]
        assert [d["id"] for d in store.find_jobs(JobQuery(states=["failed"]))] == [docs[2]["id"]]
        assert store.queued_job_classes() == ["app.jobs.ImportJob", "app.jobs.MailJob"]
        failed = store.get_job(docs[2]["id"])
        assert failed is not None and failed["attempts"] is None  # version 5: the new column
        assert failed["trace_context"] is None  # version 6
        history = [{"number": 1, "at": "2026-01-02T03:04:05+00:00", "started_at": None,
                    "worker_name": "h:1:t", "class_name": "KeyError", "message": "x"}]  # fmt: skip
        updated = store.update_job(docs[2]["id"], {"attempts": history})
        assert updated is not None and updated["attempts"] == history
    finally:
        store.close()


def test_an_enqueue_writes_the_table_and_the_claim_index_only(tmp_path: Path) -> None:
    """One fsync'd commit per enqueue: its cost grows with the pages it writes. The
    listing indexes leave queued jobs out, so an insert writes two pages, not four."""
    path = tmp_path / "rj.db"
    store = SQLiteStore(f"sqlite:///{path}")
    try:
        store.insert_jobs([job_doc()])
        store._db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert Path(f"{path}-wal").stat().st_size == 0
        store.insert_jobs([job_doc()])
        frames = (Path(f"{path}-wal").stat().st_size - WAL_HEADER) // (FRAME_HEADER + PAGE)
        assert frames == 2
    finally:
        store.close()


def test_listings_and_counts_read_indexes(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'rj.db'}")
    try:
        store.insert_jobs([job_doc(state="failed"), job_doc()])
        where, params = job_filters(JobQuery(states=["failed", "aborted"]))
        plan = _plan(store, f"SELECT id FROM jobs WHERE {where} ORDER BY id", params)
        assert "USING COVERING INDEX jobs_state" in plan
        where, params = job_filters(JobQuery(states=["failed"], job_class="app.jobs.X"))
        plan = _plan(store, f"SELECT id FROM jobs WHERE {where} ORDER BY id", params)
        assert "INDEX jobs_class_state" in plan
        plan = _plan(store, "SELECT 'queued', COUNT(*) FROM jobs WHERE state = 'queued'", [])
        assert "USING COVERING INDEX jobs_queue" in plan
        assert store.count_jobs() == {"failed": 1, "queued": 1}
    finally:
        store.close()


def test_rows_with_different_null_columns_are_inserted_whole(tmp_path: Path) -> None:
    # insert_job_rows writes NULL columns into the statement and groups rows by which
    # columns are NULL: every value must still land in its own column, in every row.
    store = SQLiteStore(f"sqlite:///{tmp_path / 'rj.db'}")
    now = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    docs = [
        job_doc(),
        job_doc(description="nightly", run_at=now),
        job_doc(description="nightly", run_at=now),
        job_doc(expires_at=now, log_level="debug", priority=7),
        job_doc(singleton_key="app.jobs.ImportJob", description=""),
        job_doc(),
    ]
    try:
        insert_job_rows(store._db.conn, [job_to_row(doc) for doc in docs])
        stored = store.find_jobs(JobQuery(ids=[doc["id"] for doc in docs]))
        assert [job["id"] for job in stored] == sorted(doc["id"] for doc in docs)
        by_id = {job["id"]: job for job in stored}
        for doc in docs:
            assert by_id[doc["id"]] == doc
    finally:
        store.close()


def test_a_batch_is_inserted_from_its_template_row_and_each_job_reads_back_whole(
    tmp_path: Path,
) -> None:
    # batch_to_rows converts the template once and leaves its NULL columns out of every
    # row; a batch whose jobs differ in NULL columns (arguments None) takes the row-by-row way.
    store = SQLiteStore(f"sqlite:///{tmp_path / 'rj.db'}")
    template = job_doc(description="import", log_level="info")
    try:
        for arguments in ([{"args": [1]}, {"args": [2]}], [{"args": [3]}, None]):
            ids = [new_id() for _ in arguments]
            store.insert_jobs(JobBatch(template, ids, arguments))
            for job_id, args in zip(ids, arguments, strict=True):
                assert store.get_job(job_id) == {**template, "id": job_id, "arguments": args}
                null = "SELECT arguments IS NULL FROM jobs WHERE id = ?"
                assert store._db.conn.execute(null, (job_id,)).fetchone()[0] == (args is None)
        assert store.count_jobs() == {"queued": 4}
    finally:
        store.close()
