"""``type = "newrelic"``: records to the New Relic Log API, batched and gzip-compressed.

One POST per batch: ``[{"common": {"attributes": ...}, "logs": [...]}]`` with the
``X-License-Key`` header read from the variable ``license_key_env`` names. The ``newrelic``
package is an APM agent: it forwards logs only from an initialised agent, on its own harvest
cycle, so it cannot serve as a bounded, retrying log destination; this module speaks the
documented Log API directly.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from appenders.config import EntryReader
from appenders.http import HttpPoster
from appenders.record import Record

DEFAULT_URL = "https://log-api.newrelic.com/log/v1"


@dataclass(frozen=True)
class NewRelicOptions:
    """The keys of a ``newrelic`` entry (``license_key`` is the secret's value)."""

    license_key: str = field(repr=False)  # a secret: never in a repr or a log
    url: str = DEFAULT_URL
    service: str = "rocketjob"
    timeout: float = 5.0


def parse(reader: EntryReader) -> NewRelicOptions:
    """Read a ``newrelic`` entry."""
    return NewRelicOptions(
        license_key=reader.secret("license_key_env") or "",
        url=reader.url("url", ("https", "http"), DEFAULT_URL),
        service=reader.text("service", "rocketjob"),
        timeout=reader.number("timeout", 5.0, minimum=0.001),
    )


def log_entry(record: Record) -> dict[str, Any]:
    """One Log API entry; exceptions become ``error.*`` attributes."""
    attributes: dict[str, Any] = {**record.extra, "level": record.level, "logger": record.logger}
    if record.exception:
        attributes["error.class"] = record.exception.get("class_name")
        attributes["error.message"] = record.exception.get("message")
        attributes["error.stack"] = "\n".join(record.exception.get("backtrace", ()))
    return {
        "timestamp": int(record.time.timestamp() * 1000),
        "message": record.message,
        "attributes": attributes,
    }


class NewRelicAppender:
    """Posts batches of records to the Log API."""

    def __init__(self, options: NewRelicOptions) -> None:
        self.options = options
        headers = {"X-License-Key": options.license_key}
        self.poster = HttpPoster(
            options.url, headers=headers, timeout=options.timeout, compress=True
        )
        self.common = {"attributes": {"service": options.service, "hostname": socket.gethostname()}}

    def emit(self, record: Record) -> None:
        """Post one record."""
        self.emit_batch([record])

    def emit_batch(self, records: Sequence[Record]) -> None:
        """Post records as one request."""
        payload = [{"common": self.common, "logs": [log_entry(r) for r in records]}]
        self.poster.post(orjson.dumps(payload, default=str))

    def close(self) -> None:
        """Close the connection."""
        self.poster.close()


def create(options: NewRelicOptions) -> NewRelicAppender:
    """The appender for a parsed entry."""
    return NewRelicAppender(options)
