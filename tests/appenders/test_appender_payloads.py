"""What each network appender puts on the wire, read back by the real local receivers."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import appenders
from appenders import DeliveryError, Record, exception_dict
from appenders.syslog_format import SyslogFormatter
from tests.appenders import receivers as rx
from tests.support import wait_until

ENV = {"SECRET": "s3cret"}


def failed_record() -> Record:
    try:
        {}["missing"]
    except KeyError as exc:
        info = exception_dict(exc)
    return Record("job failed", level="ERROR", extra={"job_id": "j1"}, exception=info)


@pytest.fixture
def http() -> Iterator[rx.HttpReceiver]:
    receiver = rx.HttpReceiver()
    yield receiver
    receiver.close()


def deliver(entry: dict[str, object], *records: Record) -> None:
    (out,) = appenders.build([entry], ENV)
    for record in records:
        out.emit(record)
    assert out.close(5)
    assert out.dropped == 0


def test_bugsnag_sends_error_with_backtrace_and_api_key(http: rx.HttpReceiver) -> None:
    entry = {"type": "bugsnag", "api_key_env": "SECRET", "endpoint": http.url()}
    deliver(entry, Record("only info", level="INFO"), failed_record())
    (body,) = http.bodies
    assert http.headers[0]["Bugsnag-Api-Key"] == "s3cret"
    assert http.headers[0]["Bugsnag-Payload-Version"] == "4"
    (event,) = json.loads(body)["events"]  # the info record stayed below the error level
    (exc,) = event["exceptions"]
    assert exc["errorClass"] == "KeyError" and exc["message"] == "'missing'"
    assert exc["stacktrace"][0]["method"] == "failed_record"
    assert exc["stacktrace"][0]["file"].endswith("test_appender_payloads.py")
    assert event["metaData"]["log"]["job_id"] == "j1"


def test_newrelic_posts_gzip_with_license_key(http: rx.HttpReceiver) -> None:
    entry = {"type": "newrelic", "license_key_env": "SECRET", "url": http.url("/log/v1")}
    deliver(entry, failed_record())
    assert http.headers[0]["X-License-Key"] == "s3cret"
    assert http.headers[0]["Content-Encoding"] == "gzip"
    (log,) = json.loads(http.bodies[0])[0]["logs"]
    assert log["message"] == "job failed"
    assert log["attributes"]["job_id"] == "j1"
    assert log["attributes"]["error.class"] == "KeyError"
    assert "Traceback" in log["attributes"]["error.stack"]


def test_splunk_hec_events_carry_index_source_sourcetype(http: rx.HttpReceiver) -> None:
    entry = {
        "type": "splunk",
        "token_env": "SECRET",
        "url": http.url("/services/collector/event"),
        "index": "jobs",
        "source": "worker",
        "sourcetype": "rocketjob",
    }
    deliver(entry, Record("one", extra={"job_id": "j1"}), Record("two"))
    assert http.headers[0]["Authorization"] == "Splunk s3cret"
    events = [json.loads(line) for line in http.bodies[0].splitlines()]
    assert [e["event"]["message"] for e in events] == ["one", "two"]
    assert {(e["index"], e["source"], e["sourcetype"]) for e in events} == {
        ("jobs", "worker", "rocketjob")
    }
    assert events[0]["event"]["job_id"] == "j1"


def test_http_400_is_dropped_without_retry(http: rx.HttpReceiver) -> None:
    http.script(400)
    entry = {"type": "splunk", "token_env": "SECRET", "url": http.url("/e"), "max_retries": 5}
    (out,) = appenders.build([entry], ENV)
    out.emit(Record("rejected"))
    assert out.close(5)
    assert out.dropped == 1
    assert http.attempts == 1


def test_syslog_tcp_uses_octet_counting_and_rfc5424() -> None:
    listener = rx.TcpListener()
    try:
        entry = {"type": "syslog", "url": f"tcp://127.0.0.1:{listener.port}", "app_name": "rj"}
        deliver(
            {**entry, "facility": "local0"}, Record("a\nb", level="WARNING", extra={"k": 'q"]'})
        )
        wait_until(lambda: listener.messages)
    finally:
        listener.close()
    (message,) = listener.messages
    text = message.decode()
    assert text.startswith("<132>1 ")  # local0 (16) * 8 + warning (4)
    assert " rj " in text
    assert '[rocketjob@32473 level="WARNING" k="q\\"\\]"] a\nb' in text


def test_syslog_unix_rfc3164(tmp_path: Path) -> None:
    listener = rx.DatagramListener(str(tmp_path / "dev-log"))
    try:
        entry = {"type": "syslog", "url": f"unix://{tmp_path / 'dev-log'}", "protocol": "rfc3164"}
        when = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
        deliver({**entry, "app_name": "rj"}, Record("hello", level="ERROR", time=when))
        wait_until(lambda: listener.messages)
    finally:
        listener.close()
    text = listener.messages[0].decode()
    local = when.astimezone()
    assert text.startswith(f"<11>{local:%b} {local.day:2d} {local:%H:%M:%S} ")  # user.err
    assert text.endswith("]: hello") and " rj[" in text


def test_syslog_udp_truncates_to_max_message_size() -> None:
    formatter = SyslogFormatter("user", "rj", "rfc5424")
    assert len(formatter.format(Record("x" * 10_000))) > 10_000
    listener = rx.DatagramListener()
    try:
        url = f"udp://127.0.0.1:{listener.address[1]}"
        deliver({"type": "syslog", "url": url, "max_message_size": 1024}, Record("x" * 10_000))
        wait_until(lambda: listener.messages)
    finally:
        listener.close()
    assert len(listener.messages[0]) == 1024


def test_delivery_error_defaults_to_transient() -> None:
    assert DeliveryError("x").transient
    assert not appenders.errors.permanent("x").transient


def test_mongodb_capped_collection_and_document_shape() -> None:
    url = os.environ.get("ROCKETJOB_TEST_MONGODB_URL")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("ROCKETJOB_TEST_MONGODB_URL is not set (start bin/services.d/mongodb)")
        pytest.skip("ROCKETJOB_TEST_MONGODB_URL not set")
    import pymongo

    name = f"capped_{uuid.uuid4().hex[:12]}"
    entry = {
        "type": "mongodb",
        "uri_env": "URI",
        "database": "rocketjob_test",
        "collection": name,
        "capped_size": 1 << 20,
    }
    (out,) = appenders.build([entry], {"URI": url})
    out.emit(failed_record())
    assert out.close(10) and out.dropped == 0
    client: Any = pymongo.MongoClient(url, serverSelectionTimeoutMS=3000)
    try:
        db = client["rocketjob_test"]
        assert db[name].options().get("capped") is True
        (doc,) = db[name].find({})
    finally:
        client.close()
    assert doc["message"] == "job failed" and doc["level"] == "ERROR"
    assert doc["extra"] == {"job_id": "j1"}
    assert doc["exception"]["class_name"] == "KeyError"
    assert isinstance(doc["time"], dt.datetime)
