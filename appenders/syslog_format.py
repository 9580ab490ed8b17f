"""Syslog message formats: RFC 5424 (structured data) and RFC 3164 (BSD)."""

from __future__ import annotations

import datetime as dt
import os
import socket
import sys

from appenders.record import Record

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6,
    "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
    "local0": 16, "local1": 17, "local2": 18, "local3": 19,
    "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}  # fmt: skip

#: Level name -> syslog severity.
SEVERITIES = {
    "TRACE": 7, "DEBUG": 7, "INFO": 6, "SUCCESS": 5, "WARNING": 4, "ERROR": 3, "CRITICAL": 2,
}  # fmt: skip

#: Private enterprise number used for the structured-data id (example range, RFC 5612).
SD_ID = "rocketjob@32473"


def default_app_name() -> str:
    """The program's name, as syslog tags usually are."""
    return os.path.basename(sys.argv[0] or "python") or "python"


def _sd_escape(value: object) -> str:
    text = str(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _sd_name(key: str) -> str:
    """SD-NAME: printable ASCII, no '=', ' ', ']', '"', at most 32 characters."""
    clean = "".join(c for c in key if 33 <= ord(c) <= 126 and c not in '= ]"')
    return clean[:32] or "_"


def _text(record: Record) -> str:
    if not record.exception:
        return record.message
    return "\n".join([record.message, *record.exception.get("backtrace", ())])


class SyslogFormatter:
    """Formats records for one facility, app name and protocol."""

    def __init__(self, facility: str, app_name: str, protocol: str) -> None:
        self.facility = FACILITIES[facility]
        self.app_name = app_name[:48]
        self.protocol = protocol
        self.hostname = socket.gethostname() or "-"
        self.pid = str(os.getpid())

    def priority(self, record: Record) -> int:
        """PRI = facility * 8 + severity."""
        return self.facility * 8 + SEVERITIES.get(record.level, 6)

    def format(self, record: Record) -> bytes:
        """One syslog message, without transport framing."""
        if self.protocol == "rfc3164":
            return self.rfc3164(record)
        return self.rfc5424(record)

    def rfc5424(self, record: Record) -> bytes:
        """``<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG``."""
        stamp = record.time.astimezone(dt.UTC).isoformat(timespec="microseconds")
        fields = {"level": record.level, **record.extra}
        params = " ".join(f'{_sd_name(k)}="{_sd_escape(v)}"' for k, v in fields.items())
        head = f"<{self.priority(record)}>1 {stamp} {self.hostname} {self.app_name} {self.pid} - "
        return f"{head}[{SD_ID} {params}] {_text(record)}".encode("utf-8", "replace")

    def rfc3164(self, record: Record) -> bytes:
        """``<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`` (local time, as RFC 3164 has it)."""
        local = record.time.astimezone()
        stamp = f"{local:%b} {local.day:2d} {local:%H:%M:%S}"
        fields = " ".join(f"{k}={v}" for k, v in record.extra.items())
        msg = f"{_text(record)} {fields}" if fields else _text(record)
        head = f"<{self.priority(record)}>{stamp} {self.hostname} {self.app_name}[{self.pid}]: "
        return (head + msg).encode("utf-8", "replace")
