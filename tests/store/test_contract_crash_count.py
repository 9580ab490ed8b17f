"""Contract: ``crash_count`` (issue 16) is a field of every job on every store: 0 for a new
job, written by a compare-and-set like any field, and kept through a requeue."""

from __future__ import annotations

from rocketjob.store import Store
from tests.store.helpers import CLASS, job_doc, utcnow


def test_crash_count_starts_at_zero_and_is_written_conditionally(store: Store) -> None:
    doc = job_doc()
    store.insert_jobs([doc])
    assert store.get_job(doc["id"])["crash_count"] == 0  # type: ignore[index]
    (claimed,) = store.claim_jobs(["host:1:1"], [CLASS], utcnow())
    assert claimed["crash_count"] == 0
    moved = store.update_job(
        doc["id"], {"state": "queued", "worker_name": None, "server_name": None,
                    "crash_count": 1}, from_states=["running"], worker_name="host:1:1",
    )  # fmt: skip
    assert moved is not None and moved["crash_count"] == 1
    stale = store.update_job(doc["id"], {"crash_count": 5}, from_states=["running"])
    assert stale is None and store.get_job(doc["id"])["crash_count"] == 1  # type: ignore[index]
    (again,) = store.claim_jobs(["host:2:1"], [CLASS], utcnow())
    assert again["crash_count"] == 1
    assert store.requeue_jobs("host:2") == 1
    assert store.get_job(doc["id"])["crash_count"] == 1  # type: ignore[index]
