"""Mission Control as an operator reads it (issue 21), over HTTP: the Scheduled card and
the count on every tab, durations and waits, relative times with the absolute on hover,
the failure time's label, the next automatic retry, the failed attempts, the chart's
axes, and an audited CSRF refusal."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

from starlette.testclient import TestClient

from rocketjob import Job
from rocketjob.attempts import with_failure
from tests.web.conftest import HTML, AppFactory
from tests.web.webjobs import BrokenJob, ReportJob


def _card(html: str, state: str) -> str:
    match = re.search(
        rf'class="card state-{state}"[^>]*>\s*<span class="label">{state}</span>\s*'
        r'<span class="value">([^<]*)</span>',
        html,
    )
    assert match, f"no {state} card"
    return match.group(1)


def _tab_counts(html: str) -> dict[str, str]:
    tabs = re.findall(r'<a href="/jobs/(\w+)[^"]*"[^>]*>(\w+)\s*<span class="count">([^<]*)</span>',
                      html)  # fmt: skip
    return {name: count for name, _, count in tabs}


def _failed(message: str = "the input file is missing") -> Job:
    job = BrokenJob.perform_later("orders.csv")
    try:
        raise FileNotFoundError(message)
    except FileNotFoundError as exc:
        job.fail(exc)
    return job


def test_scheduled_card_and_a_count_on_every_tab(make_client: AppFactory) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    ReportJob.set(run_at=later).perform_all_later([("nightly",), ("weekly",)])
    ReportJob.perform_all_later([("now",)] * 3)
    ReportJob.perform_later("held").pause()
    _failed()
    client = make_client({"counts_ttl_seconds": 0})
    page = client.get("/", headers=HTML).text
    cards = {s: _card(page, s) for s in ("running", "scheduled", "queued", "paused", "failed")}
    assert cards == {"running": "0", "scheduled": "2", "queued": "3", "paused": "1",
                     "failed": "1"}  # fmt: skip
    row = re.search(r"<tr><td><code>tests\.web\.webjobs\.ReportJob</code></td>(.*?)</tr>", page,
                    re.S)  # fmt: skip
    assert row and 'href="/jobs/scheduled?class=tests.web.webjobs.ReportJob">2<' in row.group(1)
    listing = client.get("/jobs/queued", headers=HTML).text
    assert _tab_counts(listing) == {
        "running": "0", "scheduled": "2", "queued": "3", "paused": "1", "failed": "1",
        "aborted": "0", "completed": "0", "all": "7",
    }  # fmt: skip
    assert listing.count('<tr class="state-queued">') == 3  # the Queued card's 3 are here
    scheduled = client.get("/jobs/scheduled", headers=HTML).text
    assert scheduled.count('<tr class="state-queued">') == 2
    assert re.search(r'<time datetime="[^"]+" title="[^"]+ UTC">in 1 h 59 min</time>', scheduled)


def test_failed_job_page_reads_right(client: TestClient) -> None:
    job = _failed()
    page = client.get(f"/job/{job.id}", headers=HTML).text
    assert '<th class="finished-label">Failed at</th>' in page
    assert ">Completed<" not in page
    assert 'data-refresh="' in page  # a failed job's page refreshes itself
    assert re.search(r'<time datetime="[^"]+">[0-9-]+ [0-9:]+ UTC</time> <small class="rel">'
                     r"\((just now|\d+ s ago)\)</small>", page)  # fmt: skip
    assert 'data-confirm="Retry job ' in page


def test_running_job_shows_how_long_it_has_run(client: TestClient) -> None:
    job = ReportJob.perform_later("slow")
    started = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3, seconds=5)
    Job.find(job.id)  # stored
    from rocketjob import current_store

    current_store().update_job(job.id, {"state": "running", "started_at": started,
                                        "worker_name": "host:1:t1"})  # fmt: skip
    page = client.get(f"/job/{job.id}", headers=HTML).text
    match = re.search(r'<th>Running for</th><td class="duration">([^<]*)</td>', page)
    assert match and match.group(1).startswith("3 min "), match
    listing = client.get("/jobs/running", headers=HTML).text
    assert re.search(r'<td class="num duration">3 min \d+ s</td>', listing)


def test_next_automatic_retry_and_failed_attempts(client: TestClient) -> None:
    job = _failed("first")
    history = None
    now = dt.datetime.now(dt.UTC)
    for number in (1, 2):
        history = with_failure(
            history, {"class_name": "TimeoutError", "message": f"try {number} <b>",
                      "worker_name": f"host:7:t{number}"},
            number=number, at=now - dt.timedelta(minutes=10 - number), started_at=None,
        )  # fmt: skip
    retry_at = now + dt.timedelta(minutes=30)
    from rocketjob import current_store

    current_store().update_job(job.id, {"state": "queued", "run_at": retry_at,
                                        "failure_count": 2, "attempts": history})  # fmt: skip
    page = client.get(f"/job/{job.id}", headers=HTML).text
    retry = re.search(r'<td class="next-retry retry-note">(.*?)</td>', page, re.S)
    assert retry and "(in 29 min" in retry.group(1) and "retry 2 of" in retry.group(1)
    table = page[page.index("<h2>Failed attempts</h2>") :]
    cell = r'<td class="num">(\d)</td>.*?<code>([^<]*)</code>.*?<strong>([^<]*)</strong>: ([^<]*)'
    rows = re.findall(cell + "</td>", table, re.S)
    assert [(n, w, c, unescape(m)) for n, w, c, m in rows] == [
        ("2", "host:7:t2", "TimeoutError", "try 2 <b>"),
        ("1", "host:7:t1", "TimeoutError", "try 1 <b>"),
    ]
    assert "<b>" not in table  # escaped


def test_chart_has_axis_and_time_labels(client: TestClient) -> None:
    page = client.get("/", headers=HTML).text
    x_labels = re.findall(r'<text class="axis-label x-label"[^>]*>(\d\d:\d\d)</text>', page)
    y_labels = re.findall(r'<text class="axis-label y-label"[^>]*>(\d+)</text>', page)
    assert len(x_labels) >= 6 and all(int(t[3:]) % 10 == 0 for t in x_labels[:-1])
    assert y_labels[0] == "0" and len(y_labels) >= 2
    assert page.count('<line class="axis"') == 2


def test_a_csrf_refusal_is_audited(make_client: AppFactory) -> None:
    client = make_client()
    job = _failed()
    response = client.post(f"/job/{job.id}/action", data={"action": "retry"}, headers=HTML)
    assert response.status_code == 403
    audit = client.get("/audit", headers=HTML).text
    row = re.search(r"<tr class=\"outcome-refused\">(.*?)</tr>", audit, re.S)
    assert row, audit
    cells = re.findall(r"<td>(.*?)</td>", row.group(1), re.S)
    assert cells[1:5] == ["local", "retry", f'<a href="/job/{job.id}">job {job.id}</a>', "refused"]
    assert "CSRF token missing" in cells[5]
    assert Job.find(job.id).failed
