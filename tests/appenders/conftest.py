"""One ``case`` per appender type for the contract suite, each wired to a real local receiver."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.appenders import receivers as rx

#: Fast retries so fault tests finish quickly; every network call times out after 0.3 s.
FAST = {"max_retries": 3, "retry_backoff": 0.02}
NET = {**FAST, "timeout": 0.3}
SECRET = {"APPENDER_SECRET": "s3cret"}

CASES = [
    "file",
    "stream",
    "syslog-udp",
    "syslog-tcp",
    "syslog-unix",
    "bugsnag",
    "newrelic",
    "splunk",
    "custom",
    "mongodb",
]
HTTP_KINDS = ["bugsnag", "newrelic", "splunk"]
#: (case, fault) pairs: the receiver answers 500 / 429 / too late, then recovers.
TRANSIENT_FAULTS = [(k, f) for k in HTTP_KINDS for f in ("500", "429", "timeout")]
TRANSIENT_FAULTS.append(("custom", "500"))
#: Cases with a receiver that accepts and never answers.
STALLABLE = ["syslog-tcp", *HTTP_KINDS, "custom", "mongodb"]
#: Cases with a connection that can be refused.
REFUSABLE = ["syslog-udp", "syslog-tcp", "syslog-unix", *HTTP_KINDS, "mongodb"]


@dataclass
class Case:
    """An appender entry, its receiver, and the faults this receiver can produce."""

    kind: str
    entry: dict[str, Any]
    messages: Callable[[], list[str]]
    environ: dict[str, str] = field(default_factory=dict)
    deliveries: Callable[[], int] | None = None  # requests/reads seen by the receiver
    faults: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)
    stall_entry: dict[str, Any] | None = None  # pointing at a receiver that never answers
    stall_drops: bool = True  # a stalled receiver means the records are dropped
    refused_entry: dict[str, Any] | None = None
    refused_drops: bool = True


_HTTP = {  # url key, secret key, path, parser
    "bugsnag": ("endpoint", "api_key_env", "/", rx.bugsnag_messages),
    "newrelic": ("url", "license_key_env", "/log/v1", rx.newrelic_messages),
    "splunk": ("url", "token_env", "/services/collector/event", rx.splunk_messages),
}


def http_case(kind: str, cleanup: list[Callable[[], None]]) -> Case:
    """A Bugsnag, New Relic or Splunk appender posting to a capturing HTTP server."""
    url_key, secret_key, path, parse = _HTTP[kind]
    receiver, hanging = rx.HttpReceiver(late_seconds=1.0), rx.HttpReceiver()
    hanging.hang = True
    cleanup += [receiver.close, hanging.close]
    entry = {"type": kind, url_key: receiver.url(path), secret_key: "APPENDER_SECRET", **NET}

    def scripted(*actions: int | str) -> Callable[[], dict[str, Any]]:
        def arm() -> dict[str, Any]:
            receiver.script(*actions)
            return entry

        return arm

    case = Case(
        kind,
        entry,
        lambda: [m for body in list(receiver.bodies) for m in parse(body)],
        environ=SECRET,
        deliveries=lambda: len(receiver.bodies),
        faults={"500": scripted(500, 500), "429": scripted(429), "timeout": scripted("late")},
        stall_entry={**entry, url_key: hanging.url(path)},
        refused_entry={**entry, url_key: f"http://127.0.0.1:{rx.closed_port()}{path}"},
    )
    case.receiver = receiver  # type: ignore[attr-defined]
    return case


def syslog_case(kind: str, tmp_path: Path, cleanup: list[Callable[[], None]]) -> Case:
    """A syslog appender sending to a real UDP, TCP or unix-socket listener."""
    transport = kind.split("-")[1]
    base = {"type": "syslog", "protocol": "rfc5424", "facility": "local0", **NET}
    if transport == "tcp":
        listener: Any = rx.TcpListener()
        hang = rx.HangServer()
        cleanup += [listener.close, hang.close]
        url = f"tcp://127.0.0.1:{listener.port}"
        stall = {**base, "url": f"tcp://127.0.0.1:{hang.port}"}
        refused = {**base, "url": f"tcp://127.0.0.1:{rx.closed_port()}"}
    elif transport == "udp":
        listener = rx.DatagramListener()
        cleanup.append(listener.close)
        url, stall = f"udp://127.0.0.1:{listener.address[1]}", None
        refused = {**base, "url": f"udp://127.0.0.1:{rx.closed_port()}"}
    else:
        listener = rx.DatagramListener(str(tmp_path / "log.sock"))
        cleanup.append(listener.close)
        url, stall = f"unix://{tmp_path / 'log.sock'}", None
        refused = {**base, "url": f"unix://{tmp_path / 'missing.sock'}"}
    return Case(
        kind,
        {**base, "url": url},
        lambda: [rx.syslog_text(m) for m in list(listener.messages)],
        deliveries=(lambda: listener.reads) if transport == "tcp" else None,
        stall_entry=stall,
        stall_drops=False,  # the kernel accepts what a silent TCP peer never reads
        refused_entry=refused,
        refused_drops=transport != "udp",  # UDP cannot know nobody listens
    )


def file_case(tmp_path: Path) -> Case:
    """A JSON-lines file appender."""
    path = tmp_path / "app.log"

    def messages() -> list[str]:
        if not path.exists():
            return []
        return [json.loads(line)["message"] for line in path.read_text().splitlines()]

    return Case("file", {"type": "file", "path": str(path), "format": "json", **FAST}, messages)


def stream_case(capsys: pytest.CaptureFixture[str]) -> Case:
    """A JSON stream appender on stdout, read through pytest's capture."""
    seen: list[str] = []

    def messages() -> list[str]:
        seen.append(capsys.readouterr().out)
        return [json.loads(line)["message"] for line in "".join(seen).splitlines()]

    entry = {"type": "stream", "stream": "stdout", "format": "json", **FAST}
    return Case("stream", entry, messages)


def custom_case() -> Case:
    """The custom ListAppender from tests.appenders.receivers."""
    sink = uuid.uuid4().hex
    cls = "tests.appenders.receivers:ListAppender"
    entry = {"type": "custom", "class": cls, "sink": sink, **FAST}
    return Case(
        "custom",
        entry,
        lambda: [r.message for r in list(rx.SINKS[sink])],
        faults={"500": lambda: {**entry, "fail_first": 2}},
        stall_entry={**entry, "stall": True},
    )


def mongodb_case(cleanup: list[Callable[[], None]]) -> Case:
    """A MongoDB appender writing to the MongoDB-protocol test server."""
    url = os.environ.get("ROCKETJOB_TEST_MONGODB_URL")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("ROCKETJOB_TEST_MONGODB_URL is not set (start bin/services.d/mongodb)")
        pytest.skip("ROCKETJOB_TEST_MONGODB_URL not set")
    import pymongo

    collection = f"logs_{uuid.uuid4().hex[:12]}"
    client: Any = pymongo.MongoClient(url, serverSelectionTimeoutMS=3000)
    cleanup.append(client.close)
    hang = rx.HangServer()
    cleanup.append(hang.close)
    base = {"type": "mongodb", "uri_env": "MONGO_URI", "database": "rocketjob_test", **NET}
    env = {"MONGO_URI": url, "HANG_URI": f"mongodb://127.0.0.1:{hang.port}/?directConnection=true"}
    env["REFUSED_URI"] = f"mongodb://127.0.0.1:{rx.closed_port()}/?directConnection=true"
    coll = client["rocketjob_test"][collection]
    return Case(
        "mongodb",
        {**base, "collection": collection, "timeout": 2.0},
        lambda: [d["message"] for d in coll.find({}, sort=[("_id", 1)])],
        environ=env,
        stall_entry={**base, "uri_env": "HANG_URI"},
        refused_entry={**base, "uri_env": "REFUSED_URI"},
    )


@pytest.fixture(params=CASES)
def case(
    request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[Case]:
    """Every appender type against its real receiver."""
    kind: str = request.param
    cleanup: list[Callable[[], None]] = []
    if kind in _HTTP:
        made = http_case(kind, cleanup)
    elif kind.startswith("syslog"):
        made = syslog_case(kind, tmp_path, cleanup)
    elif kind == "file":
        made = file_case(tmp_path)
    elif kind == "stream":
        made = stream_case(capsys)
    elif kind == "custom":
        made = custom_case()
    else:
        made = mongodb_case(cleanup)
    yield made
    for step in reversed(cleanup):
        step()
