"""Mission Control on a batch job: slice counts, rate, failed records (escaped), and
retry / abort acting on the slices."""

from __future__ import annotations

from starlette.testclient import TestClient

from rocketjob import Job
from tests.batch.jobs import PickyJob
from tests.conftest import running_worker
from tests.support import wait_until
from tests.web.conftest import post

IMPORTS = ("tests.batch.jobs",)


def test_a_failed_batch_shows_its_slices_and_escaped_failed_records(client: TestClient) -> None:
    job = PickyJob.upload(["1", "2", "<b>x</b>", "4", "5", "6"])
    with running_worker(threads=2, imports=IMPORTS):
        wait_until(lambda: job.reload().failed)
    page = client.get(f"/job/{job.id}")
    assert page.status_code == 200
    html = page.text
    assert '<span id="slices-failed">1 failed</span>' in html
    assert '<span id="slices-completed">1 completed</span>' in html
    assert 'id="failed-records"' in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert '<td class="num">3</td>' in html


def test_retry_requeues_the_failed_slices_and_abort_stops_them(client: TestClient) -> None:
    job = PickyJob.upload(range(1, 9), bad=2)
    with running_worker(threads=2, imports=IMPORTS):
        wait_until(lambda: job.reload().failed)
    post(client, f"/job/{job.id}/action", {"action": "retry"})
    fresh = Job.find(job.id)
    assert fresh.queued and job.slice_counts()["queued"] == 1
    post(client, f"/job/{job.id}/action", {"action": "abort"})
    assert Job.find(job.id).aborted
    with running_worker(threads=2, imports=IMPORTS):
        page = client.get(f"/job/{job.id}")
    assert job.slice_counts()["queued"] == 1  # an aborted job hands out no slice
    assert '<span id="slices-queued">1 queued</span>' in page.text


def test_rate_and_time_left_of_a_running_batch(client: TestClient) -> None:
    import datetime as dt

    import rocketjob
    from rocketjob.web.batch import batch_facts

    job = PickyJob.upload(range(1, 41))  # 10 slices of 4
    store = rocketjob.current_store()
    now = dt.datetime.now(dt.UTC)
    store.update_job(job.id, {"state": "running", "started_at": now - dt.timedelta(seconds=10)})
    claimed = store.claim_slices([f"h:1:t{i}" for i in range(5)], [job.job_class], now, {})
    for piece in claimed[:4]:
        store.finish_slice(job.id, piece["number"], piece["worker_name"], {"state": "completed"})
    facts = batch_facts(store, store.get_job(job.id), now)
    assert facts is not None
    assert facts["slices"] == {"queued": 5, "running": 1, "completed": 4, "failed": 0}
    assert facts["processed"] == 16 and facts["records"] == 40
    assert facts["rate"] == 1.6 and facts["eta"] == 15.0
    page = client.get(f"/job/{job.id}")
    assert '<td id="batch-rate">2</td>' in page.text
