"""What each real receiver got, read back as :class:`Seen` entries for the end-to-end
logging tests: message, fields (job context and the rest) and the backtrace text.

The receivers themselves are those of the appender contract suite
(:mod:`tests.appenders.receivers`); this module only parses what they captured and the files
a daemon wrote, and writes ``[[appenders]]`` tables.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SD_PARAM = re.compile(r'([^\s=\]"]+)="((?:[^"\\]|\\.)*)"')
_TEXT_FIELD = re.compile(r"(\w+)=(\S+)")
_TEXT_START = re.compile(r"^\d{4}-\d\d-\d\dT")
_PRI = re.compile(r"^<(\d+)>")
#: Syslog severity (PRI % 8) -> level name.
_SEVERITY = {2: "CRITICAL", 3: "ERROR", 4: "WARNING", 5: "SUCCESS", 6: "INFO", 7: "DEBUG"}


@dataclass
class Seen:
    """One record as a receiver got it."""

    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    backtrace: str = ""
    level: str = ""


def appender_tables(entries: Iterable[Mapping[str, Any]]) -> str:
    """``[[appenders]]`` TOML tables (string, number and boolean values)."""
    out = []
    for entry in entries:
        out.append("[[appenders]]")
        out += [f"{key} = {json.dumps(value)}" for key, value in entry.items()]
    return "\n".join(out) + "\n"


def read_text(path: Path) -> str:
    """The file's text so far ('' before it exists)."""
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _from_dict(d: Mapping[str, Any]) -> Seen:
    exc = d.get("exception") or {}
    return Seen(
        d.get("message", ""),
        dict(d.get("extra") or {}),
        "\n".join(exc.get("backtrace") or ()),
        d.get("level", ""),
    )


def json_lines(text: str) -> list[Seen]:
    """Records of JSON lines (the file, stream and custom appenders); other lines skipped."""
    seen = []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            seen.append(_from_dict(json.loads(line)))
        except ValueError:
            continue  # a partly written line, or another writer's output
    return seen


def text_lines(text: str) -> list[Seen]:
    """Records of the text format: a head line ``TIME LEVEL message  k=v ...`` and the
    backtrace lines after it."""
    seen: list[Seen] = []
    for line in text.splitlines():
        if _TEXT_START.match(line):
            _, level, rest = line.split(None, 2)
            message, _, fields = rest.partition("  ")
            seen.append(Seen(message, dict(_TEXT_FIELD.findall(fields)), "", level))
        elif seen:
            seen[-1].backtrace += line + "\n"
    return seen


def syslog_5424(messages: Iterable[bytes]) -> list[Seen]:
    """Records of RFC 5424 messages: fields from the structured data, then MSG."""
    seen = []
    for raw in messages:
        text = raw.decode(errors="replace")
        sd, _, msg = text.partition("] ")
        fields = {k: v.replace('\\"', '"').replace("\\]", "]") for k, v in _SD_PARAM.findall(sd)}
        message, _, backtrace = msg.partition("\n")
        seen.append(Seen(message, fields, backtrace, fields.pop("level", "")))
    return seen


def syslog_3164(messages: Iterable[bytes]) -> list[Seen]:
    """Records of RFC 3164 messages: ``MSG [backtrace] k=v ...`` after ``TAG[PID]: ``."""
    seen = []
    for raw in messages:
        whole = raw.decode(errors="replace")
        pri = _PRI.match(whole)
        level = _SEVERITY.get(int(pri[1]) % 8, "") if pri else ""
        text = whole.split("]: ", 1)[-1]
        first, _, backtrace = text.partition("\n")
        message = re.split(r" \w+=", first, maxsplit=1)[0]
        seen.append(Seen(message, dict(_TEXT_FIELD.findall(text)), backtrace, level))
    return seen


def bugsnag(bodies: Iterable[bytes]) -> list[Seen]:
    """Events of Bugsnag notifications; the backtrace as ``file:line in method`` lines."""
    seen = []
    for body in bodies:
        for event in json.loads(body)["events"]:
            log = dict(event["metaData"]["log"])
            exc = event["exceptions"][0]
            frames = [f"{f['file']}:{f['lineNumber']} in {f['method']}" for f in exc["stacktrace"]]
            head = f"{exc['errorClass']}: {exc['message']}"
            seen.append(Seen(log.pop("message"), log, "\n".join([head, *frames]), "ERROR"))
    return seen


def newrelic(bodies: Iterable[bytes]) -> list[Seen]:
    """Logs of New Relic Log API payloads; the backtrace from ``error.stack``."""
    seen = []
    for body in bodies:
        for block in json.loads(body):
            for log in block["logs"]:
                attrs = dict(log["attributes"])
                stack = attrs.pop("error.stack", "")
                seen.append(Seen(log["message"], attrs, stack, attrs.get("level", "")))
    return seen


def splunk(bodies: Iterable[bytes]) -> list[Seen]:
    """Events of Splunk HEC requests."""
    seen = []
    for body in bodies:
        for line in body.splitlines():
            if line:
                event = dict(json.loads(line)["event"])
                exc = event.pop("exception", None) or {}
                message, level = event.pop("message"), event.pop("level", "")
                seen.append(Seen(message, event, "\n".join(exc.get("backtrace") or ()), level))
    return seen


def mongodb(documents: Iterable[Mapping[str, Any]]) -> list[Seen]:
    """Records stored by the MongoDB appender."""
    return [_from_dict(doc) for doc in documents]


def mongodb_url() -> str | None:
    """The MongoDB-protocol test server's URL when it answers a ping, else None."""
    import pymongo

    url = os.environ.get("ROCKETJOB_TEST_MONGODB_URL", "mongodb://127.0.0.1:27018/")
    client: Any = pymongo.MongoClient(url, serverSelectionTimeoutMS=1500, connectTimeoutMS=1500)
    try:
        client.admin.command("ping")
    except Exception:  # absent: the caller skips (locally) or fails (CI)
        return None
    finally:
        client.close()
    return url


def short_socket_dir() -> str:
    """A fresh directory with a short path: unix socket paths are limited to ~100 bytes."""
    import tempfile

    return tempfile.mkdtemp(prefix="rjlog-")
