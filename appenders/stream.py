"""``type = "stream"``: text or JSON lines to stderr or stdout (journald under systemd)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from appenders.config import EntryReader
from appenders.file import encode
from appenders.record import Record


@dataclass(frozen=True)
class StreamOptions:
    """The keys of a ``stream`` entry."""

    stream: str = "stderr"
    format: str = "text"


def parse(reader: EntryReader) -> StreamOptions:
    """Read a ``stream`` entry."""
    return StreamOptions(
        stream=reader.text("stream", "stderr", ("stderr", "stdout")),
        format=reader.text("format", "text", ("text", "json")),
    )


class StreamAppender:
    """Writes records to a text stream; the stream is looked up at each write, so tests and
    daemons that replace ``sys.stderr`` are followed."""

    def __init__(self, options: StreamOptions, stream: TextIO | None = None) -> None:
        self.options = options
        self._stream = stream

    def _out(self) -> TextIO:
        if self._stream is not None:
            return self._stream
        return sys.stdout if self.options.stream == "stdout" else sys.stderr

    def emit(self, record: Record) -> None:
        """Write one record."""
        self.emit_batch([record])

    def emit_batch(self, records: Sequence[Record]) -> None:
        """Write records and flush once."""
        out = self._out()
        out.write(encode(records, self.options.format).decode("utf-8", "replace"))
        out.flush()

    def flush(self) -> None:
        """Flush the stream."""
        self._out().flush()


def create(options: StreamOptions) -> StreamAppender:
    """The appender for a parsed entry."""
    return StreamAppender(options)
