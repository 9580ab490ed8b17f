"""Mission Control shows at most 64 KiB of a job's arguments or result inline, with a link
that downloads the whole value (issue 16 item 8)."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from rocketjob.web.inline import INLINE_BYTES
from tests.web.conftest import HTML
from tests.web.webjobs import ReportJob


def test_large_arguments_are_cut_and_downloadable_whole(client: TestClient) -> None:
    big = "x" * (3 * 1024 * 1024)  # 3 MiB
    job = ReportJob.perform_later(big)
    page = client.get(f"/job/{job.id}", headers=HTML)
    assert page.status_code == 200
    assert len(page.text) < INLINE_BYTES + 20_000, "the page holds about 64 KiB of it, not 3 MiB"
    assert "download the whole value" in page.text
    assert f'href="/job/{job.id}/data/arguments"' in page.text
    whole = client.get(f"/job/{job.id}/data/arguments")
    assert whole.status_code == 200
    assert whole.headers["content-type"].startswith("application/json")
    assert "attachment" in whole.headers["content-disposition"]
    assert json.loads(whole.text) == {"args": [big], "kwargs": {}}


def test_small_arguments_are_shown_whole_without_a_link(client: TestClient) -> None:
    job = ReportJob.perform_later("small")
    page = client.get(f"/job/{job.id}", headers=HTML)
    assert page.status_code == 200 and "small" in page.text
    assert "/data/arguments" not in page.text


def test_download_of_an_unknown_part_or_job_is_404(client: TestClient) -> None:
    job = ReportJob.perform_later("small")
    assert client.get(f"/job/{job.id}/data/fields").status_code == 404
    assert client.get("/job/nosuchjob/data/arguments").status_code == 404


def test_the_job_page_shows_the_time_limit_and_the_time_left(client: TestClient) -> None:
    import datetime as dt

    import rocketjob

    job = ReportJob.set(timeout=30).perform_later("x")
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=10)
    rocketjob.current_store().update_job(
        job.id or "", {"state": "running", "started_at": started, "worker_name": "h:1:1",
                       "server_name": "h:1"},
    )  # fmt: skip
    page = client.get(f"/job/{job.id}", headers=HTML)
    assert page.status_code == 200
    cell = page.text.split('id="time-limit">', 1)[1].split("</td>", 1)[0]
    assert cell.startswith("30 s") and "s left)" in cell
    left = float(cell.split("(")[1].split(" s left")[0])
    assert 15 <= left <= 20.5
    plain = ReportJob.perform_later("y")
    page = client.get(f"/job/{plain.id}", headers=HTML)
    assert 'id="time-limit">none<' in page.text
