"""Every screen renders, with job data escaped and the security headers set."""

from __future__ import annotations

import datetime as dt
import html

from starlette.testclient import TestClient

import rocketjob
from tests.web.conftest import HTML
from tests.web.webjobs import BrokenJob, ReportJob

SCRIPT = "<script>alert('x')</script>"


def failed_job(message: str = "the input file is missing") -> BrokenJob:
    job = BrokenJob.perform_later("in.csv")
    try:
        raise ValueError(message)
    except ValueError as exc:
        job.fail(exc)
    return job


def test_dashboard_shows_counts_classes_and_servers(client: TestClient) -> None:
    ReportJob.perform_all_later([("a",), ("b",)])
    failed_job()
    client.app.state.data.counts.refresh()
    page = client.get("/", headers=HTML)
    assert page.status_code == 200
    assert "tests.web.webjobs.ReportJob" in page.text and "tests.web.webjobs.BrokenJob" in page.text
    assert "Stored jobs finished, last hour" in page.text and "servers alive" in page.text
    assert "zombies" in page.text and "appender drops" in page.text
    assert "<svg" in page.text


def test_each_job_list_renders_its_columns(client: TestClient) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)
    scheduled = ReportJob.set(run_at=later).perform_later("later")
    queued = ReportJob.perform_later("now")
    paused = ReportJob.perform_later("paused").pause()
    aborted = ReportJob.perform_later("aborted").abort()
    failed = failed_job("disk on fire")
    expectations = {
        "scheduled": [scheduled.id, later.strftime("%Y-%m-%d %H:%M")],
        "queued": [queued.id],
        "paused": [paused.id],
        "aborted": [aborted.id],
        "failed": [failed.id, "ValueError", "disk on fire"],
        "all": [scheduled.id, queued.id, failed.id],
    }
    for view, needles in expectations.items():
        page = client.get(f"/jobs/{view}", headers=HTML)
        assert page.status_code == 200, view
        for needle in needles:
            assert needle in page.text, (view, needle)
    assert scheduled.id not in client.get("/jobs/queued").text
    assert queued.id not in client.get("/jobs/scheduled").text
    assert client.get("/jobs/nonsense").status_code == 404


def test_running_list_shows_percent_and_worker(client: TestClient) -> None:
    job = ReportJob.perform_later("x")
    store = rocketjob.current_store()
    now = dt.datetime.now(dt.UTC)
    store.claim_jobs(["web-host:42:7"], [job.job_class], now)
    job.reload().save(percent_complete=42)
    page = client.get("/jobs/running", headers=HTML).text
    assert job.id in page and "web-host:42:7" in page and "42%" in page


def test_class_and_text_filters_sorting_and_keyset_pages(client: TestClient) -> None:
    reports = ReportJob.perform_all_later([(f"file-{i}.csv",) for i in range(120)])
    broken = BrokenJob.perform_later("needle-in-haystack")
    by_class = client.get("/jobs/queued?class=tests.web.webjobs.BrokenJob").text
    assert broken.id in by_class and reports[0].id not in by_class
    by_text = client.get("/jobs/all?q=NEEDLE-in").text
    assert broken.id in by_text and reports[-1].id not in by_text
    first = client.get("/jobs/queued?class=tests.web.webjobs.ReportJob").text
    assert reports[-1].id in first and reports[0].id not in first  # newest first
    oldest = client.get("/jobs/queued?class=tests.web.webjobs.ReportJob&order=oldest").text
    assert reports[0].id in oldest and reports[-1].id not in oldest
    seen: set[str] = set()
    url: str | None = "/jobs/queued?class=tests.web.webjobs.ReportJob"
    pages = 0
    while url:
        text = client.get(url).text
        seen |= {job.id for job in reports if job.id in text}
        url = None
        if 'rel="next"' in text:
            link = text.split('rel="next"')[0].rsplit('href="', 1)[-1]
            url = html.unescape(link.split('"')[0])
        pages += 1
        assert pages < 10
    assert seen == {job.id for job in reports} and pages == 3


def test_job_page_shows_every_field_backtrace_and_escapes_data(client: TestClient) -> None:
    job = ReportJob.create(customer=SCRIPT, description=SCRIPT)
    job.arguments = {"args": [SCRIPT], "kwargs": {"note": SCRIPT}}
    rocketjob.current_store().update_job(job.id, {"arguments": {"args": [SCRIPT], "kwargs": {}}})
    failed = failed_job(SCRIPT)
    for target in (job, failed):
        page = client.get(f"/job/{target.id}", headers=HTML)
        assert page.status_code == 200
        assert SCRIPT not in page.text and "<script>alert" not in page.text
        assert "&lt;script&gt;" in page.text
    text = client.get(f"/job/{failed.id}", headers=HTML).text
    assert "Traceback (most recent call last):" in text and "ValueError" in text
    assert 'id="backtrace"' in text
    for label in ("Priority", "Run at", "Expires at", "Failure count", "Worker", "Log level",
                  "Arguments", "Destroy on complete", "Collect output"):  # fmt: skip
        assert label in text
    report = client.get(f"/job/{job.id}", headers=HTML).text
    assert 'name="field.customer"' in report and 'name="field.rows"' in report
    assert 'name="field.secret_note"' not in report  # not user_editable
    assert client.get("/job/nope", headers=HTML).status_code == 404


def test_escaping_in_lists_and_dashboard(client: TestClient) -> None:
    BrokenJob.perform_later(SCRIPT)
    failed_job(SCRIPT)
    for path in ("/jobs/all", "/jobs/failed", f"/jobs/all?q={SCRIPT}", "/"):
        text = client.get(path, headers=HTML).text
        assert "<script>alert" not in text, path


def test_result_is_shown_for_completed_jobs(client: TestClient) -> None:
    job = ReportJob.perform_later("x")
    store = rocketjob.current_store()
    store.update_job(job.id, {"state": "completed", "result": {"rows": 12},
                              "completed_at": dt.datetime.now(dt.UTC)})  # fmt: skip
    text = client.get(f"/job/{job.id}", headers=HTML).text
    assert 'id="result"' in text and "&#34;rows&#34;: 12" in text


def test_servers_page_shows_heartbeat_busy_cpu_memory_current_jobs(client: TestClient) -> None:
    store = rocketjob.current_store()
    now = dt.datetime.now(dt.UTC)
    for name, beat in (("alive:1", now), ("dead:2", now - dt.timedelta(hours=1))):
        store.register_server({
            "name": name, "host": name.split(":")[0], "pid": int(name[-1]), "state": "running",
            "started_at": now, "heartbeat_at": beat, "threads": 8, "busy": 1,
            "info": {"cpu_percent": 37.5, "memory_rss": 50 * 1048576, "appender_drops": 3},
            "commands": [],
        })  # fmt: skip
    job = ReportJob.perform_later("x")
    store.claim_jobs(["alive:1:4"], [job.job_class], now)
    text = client.get("/servers", headers=HTML).text
    assert "alive:1" in text and "dead:2" in text and "(zombie)" in text
    assert "37.5%" in text and "50.0 MB" in text and "1/8" in text and job.id in text
    dashboard = client.get("/", headers=HTML).text
    assert ">6<" in dashboard.replace(" ", "")  # appender drops summed over servers


def test_audit_page_lists_entries_newest_first_with_pages(client: TestClient) -> None:
    data = client.app.state.data
    for i in range(105):
        data.audit("ops", "retry", f"job j{i}", "ok", "now queued")
    first = client.get("/audit", headers=HTML).text
    assert "job j104" in first and "job j4<" not in first and 'rel="next"' in first
    older = first.split('rel="next"')[0].rsplit('href="', 1)[-1].split('"')[0]
    assert "job j4<" in client.get(older, headers=HTML).text


def test_security_headers_on_every_response(client: TestClient) -> None:
    for path in ("/", "/jobs/all", "/static/app.js", "/metrics", "/nope"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in client.get("/", headers=HTML).text  # only external script


def test_metrics_in_prometheus_text(client: TestClient) -> None:
    ReportJob.perform_later("x")
    failed_job()
    client.app.state.data.counts.refresh()
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'rocketjob_jobs{state="queued",job_class="tests.web.webjobs.ReportJob"} 1' in text
    assert 'rocketjob_jobs_by_state{state="failed"} 1' in text
    assert "rocketjob_servers_alive 0" in text
    assert 'rocketjob_jobs_finished_last_hour{state="failed"} 1' in text
    assert 'rocketjob_job_run_seconds_last_hour_bucket{le="+Inf"}' in text
    for line in text.splitlines():
        assert line.startswith("#") or " " in line
