"""``type = "splunk"``: records to a Splunk HTTP Event Collector, batched.

One POST per batch to ``url`` (``https://splunk:8088/services/collector/event``): the events
as concatenated JSON objects, ``Authorization: Splunk <token>`` from ``token_env``, with
``index``, ``source``, ``sourcetype`` and ``host`` on every event. splunk-sdk (splunklib) talks
to the management API (port 8089) and has no HEC client, so it does not serve here; HEC is a
plain HTTP endpoint, posted to with the shared bounded client.
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


@dataclass(frozen=True)
class SplunkOptions:
    """The keys of a ``splunk`` entry (``token`` is the secret's value)."""

    url: str
    token: str = field(repr=False)  # a secret: never in a repr or a log
    index: str | None = None
    source: str = "rocketjob"
    sourcetype: str = "_json"
    host: str = ""
    timeout: float = 5.0
    gzip: bool = False


def parse(reader: EntryReader) -> SplunkOptions:
    """Read a ``splunk`` entry."""
    return SplunkOptions(
        url=reader.url("url", ("https", "http")),
        token=reader.secret("token_env") or "",
        index=reader.text("index", None),
        source=reader.text("source", "rocketjob"),
        sourcetype=reader.text("sourcetype", "_json"),
        host=reader.text("host", ""),
        timeout=reader.number("timeout", 5.0, minimum=0.001),
        gzip=reader.flag("gzip", False),
    )


class SplunkAppender:
    """Posts batches of events to HEC."""

    def __init__(self, options: SplunkOptions) -> None:
        self.options = options
        headers = {"Authorization": f"Splunk {options.token}"}
        self.poster = HttpPoster(
            options.url, headers=headers, timeout=options.timeout, compress=options.gzip
        )
        self.meta: dict[str, Any] = {
            "host": options.host or socket.gethostname(),
            "source": options.source,
            "sourcetype": options.sourcetype,
        }
        if options.index:
            self.meta["index"] = options.index

    def event(self, record: Record) -> dict[str, Any]:
        """One HEC event: epoch seconds in ``time``, the record in ``event``."""
        body = {"message": record.message, "level": record.level, **record.extra}
        if record.exception:
            body["exception"] = record.exception
        return {"time": round(record.time.timestamp(), 6), **self.meta, "event": body}

    def emit(self, record: Record) -> None:
        """Post one event."""
        self.emit_batch([record])

    def emit_batch(self, records: Sequence[Record]) -> None:
        """Post events as one request."""
        body = b"\n".join(orjson.dumps(self.event(r), default=str) for r in records)
        self.poster.post(body)

    def close(self) -> None:
        """Close the connection."""
        self.poster.close()


def create(options: SplunkOptions) -> SplunkAppender:
    """The appender for a parsed entry."""
    return SplunkAppender(options)
