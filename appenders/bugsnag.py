"""``type = "bugsnag"``: error records, with their backtrace, to Bugsnag's notify API.

The ``bugsnag`` package is not used for delivery: its default delivery starts a new thread
for every event and posts without a timeout, and it has no batching, so a slow endpoint
would pile up threads. This module builds the documented payload (version 4) itself and posts
a whole batch as one request through the shared bounded HTTP client. ``level`` defaults to
``error``, so only errors go to Bugsnag.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from appenders.config import EntryReader
from appenders.http import HttpPoster
from appenders.record import Record

DEFAULT_ENDPOINT = "https://notify.bugsnag.com"
DEFAULT_LEVEL = "error"
NOTIFIER = {"name": "rocketjob appenders", "version": "0.1.0", "url": "https://rocketjob.io"}
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<method>.+)$')
_SEVERITY = {"WARNING": "warning", "ERROR": "error", "CRITICAL": "error"}


@dataclass(frozen=True)
class BugsnagOptions:
    """The keys of a ``bugsnag`` entry (``api_key`` is the secret's value)."""

    api_key: str = field(repr=False)  # a secret: never in a repr or a log
    endpoint: str = DEFAULT_ENDPOINT
    release_stage: str = "production"
    app_version: str | None = None
    timeout: float = 5.0


def parse(reader: EntryReader) -> BugsnagOptions:
    """Read a ``bugsnag`` entry."""
    return BugsnagOptions(
        api_key=reader.secret("api_key_env") or "",
        endpoint=reader.url("endpoint", ("https", "http"), DEFAULT_ENDPOINT),
        release_stage=reader.text("release_stage", "production"),
        app_version=reader.text("app_version", None),
        timeout=reader.number("timeout", 5.0, minimum=0.001),
    )


def stacktrace(backtrace: Sequence[str]) -> list[dict[str, Any]]:
    """Bugsnag frames, innermost first, from Python traceback lines."""
    frames = []
    for line in backtrace:
        m = _FRAME.match(line)
        if m:
            frames.append(
                {"file": m["file"], "lineNumber": int(m["line"]), "method": m["method"].strip()}
            )
    return frames[::-1]


class BugsnagAppender:
    """Posts batches of error events to Bugsnag."""

    def __init__(self, options: BugsnagOptions) -> None:
        self.options = options
        headers = {"Bugsnag-Api-Key": options.api_key, "Bugsnag-Payload-Version": "4"}
        self.poster = HttpPoster(options.endpoint, headers=headers, timeout=options.timeout)
        self.app: dict[str, Any] = {"releaseStage": options.release_stage}
        if options.app_version:
            self.app["version"] = options.app_version
        self.device = {"hostname": socket.gethostname()}

    def event(self, record: Record) -> dict[str, Any]:
        """One Bugsnag event for a record (a record without an exception reports its message)."""
        exc = record.exception or {"class_name": record.logger or "LogError", "backtrace": []}
        return {
            "exceptions": [
                {
                    "errorClass": exc.get("class_name") or "Error",
                    "message": exc.get("message") or record.message,
                    "stacktrace": stacktrace(exc.get("backtrace") or ()),
                }
            ],
            "severity": _SEVERITY.get(record.level, "info"),
            "unhandled": False,
            "context": str(record.extra.get("job_class") or record.logger or ""),
            "app": self.app,
            "device": {**self.device, "time": record.time.isoformat()},
            "metaData": {"log": {"message": record.message, **record.extra}},
        }

    def emit(self, record: Record) -> None:
        """Post one event."""
        self.emit_batch([record])

    def emit_batch(self, records: Sequence[Record]) -> None:
        """Post events as one notification."""
        payload = {
            "apiKey": self.options.api_key,
            "payloadVersion": "4",
            "notifier": NOTIFIER,
            "events": [self.event(r) for r in records],
        }
        sent_at = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        self.poster.headers["Bugsnag-Sent-At"] = sent_at
        self.poster.post(orjson.dumps(payload, default=str))

    def close(self) -> None:
        """Close the connection."""
        self.poster.close()


def create(options: BugsnagOptions) -> BugsnagAppender:
    """The appender for a parsed entry."""
    return BugsnagAppender(options)
