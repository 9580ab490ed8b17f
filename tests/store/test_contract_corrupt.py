"""Contract: a job whose stored document cannot be decoded never breaks a read or a claim
(issue 16 item 5). Every store returns it with the bad value kept as
``codec.Undecodable`` (or a tag that does not decode), and ``rocketjob.corrupt`` names the
field; the job model loads it with placeholders and ``job.corruption`` set."""

from __future__ import annotations

import json

from rocketjob.corrupt import find_corruption
from rocketjob.job import Job
from rocketjob.store import JobQuery, Store
from tests.store.conftest import StoreEnv
from tests.store.corrupting import corrupt_job
from tests.store.helpers import CLASS, job_doc, utcnow


def test_a_corrupt_job_is_read_claimed_and_named_never_raised(
    store_env: StoreEnv, store: Store
) -> None:
    bad, good = job_doc(arguments={"args": [1], "kwargs": {}}), job_doc()
    store.insert_jobs([bad, good])
    field = corrupt_job(store_env.kind, store_env.url, bad["id"])

    doc = store.get_job(bad["id"])
    assert doc is not None and set(doc) == set(good)
    assert find_corruption(doc) is not None and find_corruption(doc)[0] == field
    listed = {d["id"]: d for d in store.find_jobs(JobQuery(limit=None))}
    assert set(listed) == {bad["id"], good["id"]}
    assert find_corruption(listed[good["id"]]) is None

    claimed = store.claim_jobs(["host:1:1", "host:1:2"], [CLASS], utcnow())
    assert sorted(d["id"] for d in claimed) == sorted([bad["id"], good["id"]])
    by_id = {d["id"]: d for d in claimed}
    assert by_id[bad["id"]]["state"] == "running"

    job = Job.from_doc(by_id[bad["id"]])
    assert job.corruption is not None and job.corruption[0] == field
    assert job.arguments == {"args": [], "kwargs": {}}
    status = job.status()
    assert status["corrupt"].startswith(f"{field}: ")
    json.dumps(status, default=str)  # jobs list --json and Mission Control can show it
    assert Job.from_doc(by_id[good["id"]]).corruption is None
