"""Mission Control shows a job whose stored document cannot be decoded as such: no 500
on its lists or its page (issue 16 item 5)."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.store.corrupting import corrupt_job
from tests.web.conftest import HTML
from tests.web.webjobs import ReportJob


def test_lists_and_job_page_show_a_corrupt_job(client: TestClient, store_url: str) -> None:
    bad = ReportJob.perform_later("to be broken")
    ReportJob.perform_later("fine")
    corrupt_job("sqlite", store_url, bad.id or "")
    for path in ("/jobs/queued", "/jobs/all", "/"):
        page = client.get(path, headers=HTML)
        assert page.status_code == 200, path
        assert path == "/" or bad.id in page.text
    page = client.get(f"/job/{bad.id}", headers=HTML)
    assert page.status_code == 200
    assert "cannot be decoded" in page.text and "arguments" in page.text
    assert client.get(f"/job/{bad.id}/data/arguments").status_code == 200
