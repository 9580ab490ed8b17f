"""``type = "syslog"``: RFC 5424 or RFC 3164 messages over a unix socket, UDP or TCP.

``url`` is ``unix:///dev/log`` (datagrams, the local daemon), ``udp://host:514`` (one
datagram per record, truncated to ``max_message_size``) or ``tcp://host:601`` (RFC 6587
octet-counting framing: ``LEN SP MSG``; a batch goes out in one ``sendall``). Every socket
has a timeout; a failed send closes the socket and raises, so the delivery wrapper retries on a
fresh connection. The stdlib ``SysLogHandler`` is not used: it has no octet-counting, no RFC
5424 and no send timeout.
"""

from __future__ import annotations

import socket
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from appenders.config import EntryReader
from appenders.errors import DeliveryError
from appenders.record import Record
from appenders.syslog_format import FACILITIES, SyslogFormatter, default_app_name


@dataclass(frozen=True)
class SyslogOptions:
    """The keys of a ``syslog`` entry."""

    url: str = "unix:///dev/log"
    facility: str = "user"
    protocol: str = "rfc5424"
    app_name: str = ""
    timeout: float = 5.0
    max_message_size: int = 8192


def parse(reader: EntryReader) -> SyslogOptions:
    """Read a ``syslog`` entry."""
    url = reader.url("url", ("unix", "udp", "tcp"), "unix:///dev/log")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "unix" and not parts.path:
        reader.fail("url", f"no socket path in {url!r}")
    return SyslogOptions(
        url=url,
        facility=reader.text("facility", "user", tuple(FACILITIES)),
        protocol=reader.text("protocol", "rfc5424", ("rfc5424", "rfc3164")),
        app_name=reader.text("app_name", ""),
        timeout=reader.number("timeout", 5.0, minimum=0.001),
        max_message_size=reader.integer("max_message_size", 8192, minimum=480),
    )


def is_local(options: SyslogOptions) -> bool:
    """A unix socket is local: the supervisor may write to it inline."""
    return options.url.startswith("unix:")


class SyslogAppender:
    """Sends records to a syslog daemon; see the module docstring."""

    def __init__(self, options: SyslogOptions) -> None:
        self.options = options
        parts = urllib.parse.urlsplit(options.url)
        self.scheme = parts.scheme
        self.address: str | tuple[str, int] = (
            parts.path if parts.scheme == "unix" else (parts.hostname or "", parts.port or 514)
        )
        app = options.app_name or default_app_name()
        self.formatter = SyslogFormatter(options.facility, app, options.protocol)
        self._sock: socket.socket | None = None

    def _connect(self) -> socket.socket:
        if self._sock is None:
            family = socket.AF_UNIX if self.scheme == "unix" else socket.AF_INET
            kind = socket.SOCK_STREAM if self.scheme == "tcp" else socket.SOCK_DGRAM
            sock = socket.socket(family, kind)
            sock.settimeout(self.options.timeout)
            try:
                sock.connect(self.address)
            except OSError:
                sock.close()
                raise
            self._sock = sock
        return self._sock

    def emit(self, record: Record) -> None:
        """Send one record."""
        self.emit_batch([record])

    def emit_batch(self, records: Sequence[Record]) -> None:
        """Send records: one frame stream over TCP, one datagram each otherwise."""
        messages = [self.formatter.format(r) for r in records]
        try:
            sock = self._connect()
            if self.scheme == "tcp":
                sock.sendall(b"".join(b"%d %s" % (len(m), m) for m in messages))
            else:
                for message in messages:
                    sock.send(message[: self.options.max_message_size])
        except OSError as exc:
            self.close()
            raise DeliveryError(f"syslog {self.options.url}: {exc}") from exc

    def flush(self) -> None:
        """Nothing is buffered."""

    def reopen(self) -> None:
        """Drop the connection; the next record opens a new one."""
        self.close()

    def close(self) -> None:
        """Close the socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def create(options: SyslogOptions) -> SyslogAppender:
    """The appender for a parsed entry."""
    return SyslogAppender(options)
