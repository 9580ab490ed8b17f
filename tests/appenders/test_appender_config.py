"""Validation of ``[[appenders]]`` entries: every error names the entry and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import appenders
from appenders import AppenderConfigError, AsyncAppender, InlineAppender

ENV = {"TOKEN": "t0k3n", "MONGO": "mongodb://127.0.0.1:1/"}


def error(entries: list[dict[str, Any]], environ: dict[str, str] | None = None) -> str:
    with pytest.raises(AppenderConfigError) as info:
        appenders.validate(entries, ENV if environ is None else environ)
    assert isinstance(info.value, ValueError)
    return str(info.value)


def test_bad_syslog_scheme_names_entry_and_key(tmp_path: Path) -> None:
    entries = [
        {"type": "file", "path": str(tmp_path / "a.log")},
        {"type": "stream"},
        {"type": "syslog", "url": "http://logs:514"},
    ]
    assert error(entries) == (
        "appenders[2].url: unsupported scheme 'http'; use unix://, udp:// or tcp://"
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"type": "kafka"}, "appenders[0].type: must be one of file, stream, syslog"),
        ({"path": "x"}, "appenders[0].type: missing"),
        ({"type": "stream", "colour": True}, "appenders[0].colour: unknown key"),
        ({"type": "stream", "level": "loud"}, "appenders[0].level: must be one of trace"),
        ({"type": "stream", "format": "xml"}, "appenders[0].format: must be one of text, json"),
        ({"type": "stream", "queue_size": 0}, "appenders[0].queue_size: must be at least 1"),
        ({"type": "stream", "batch_size": "10"}, "appenders[0].batch_size: expected an integer"),
        ({"type": "stream", "overflow": "wait"}, "appenders[0].overflow: must be one of drop"),
        ({"type": "file"}, "appenders[0].path: missing"),
        ({"type": "file", "path": "/no/such/dir/x.log"}, "appenders[0].path: directory /no/such"),
        ({"type": "file", "path": "x.log", "rotate_every": "weekly"}, "appenders[0].rotate_every"),
        ({"type": "syslog", "url": "tcp://:601"}, "appenders[0].url: no host"),
        ({"type": "syslog", "facility": "local9"}, "appenders[0].facility: must be one of"),
        ({"type": "syslog", "protocol": "rfc1"}, "appenders[0].protocol: must be one of"),
        ({"type": "splunk", "url": "https://s:8088/x"}, "appenders[0].token_env: missing"),
        (
            {"type": "splunk", "url": "https://s/x", "token_env": "NOPE"},
            "appenders[0].token_env: environment variable NOPE is not set",
        ),
        (
            {"type": "splunk", "url": "ftp://s/x", "token_env": "TOKEN"},
            "appenders[0].url: unsupported scheme 'ftp'; use https:// or http://",
        ),
        ({"type": "newrelic"}, "appenders[0].license_key_env: missing"),
        ({"type": "bugsnag", "api_key": "x"}, "appenders[0].api_key_env: missing"),
        ({"type": "mongodb", "uri_env": "TOKEN"}, "appenders[0].uri_env: the variable must hold"),
        ({"type": "mongodb", "uri_env": "MONGO", "uri": "x"}, "appenders[0].uri: unknown key"),
        ({"type": "custom"}, "appenders[0].class: missing"),
        ({"type": "custom", "class": "nope.module:X"}, "appenders[0].class: cannot import"),
        ({"type": "custom", "class": "os.path"}, "appenders[0].class: expected 'module:Class'"),
        ({"type": "custom", "class": "io:BytesIO"}, "appenders[0].class: 'io:BytesIO' is not"),
    ],
)
def test_invalid_entries(entry: dict[str, Any], message: str) -> None:
    assert error([entry]).startswith(message)


def test_custom_constructor_keys_are_checked() -> None:
    entry = {"type": "custom", "class": "tests.appenders.receivers:ListAppender", "colour": 1}
    assert error([entry]).startswith("appenders[0].class: tests.appenders.receivers:ListAppender")


def test_duplicate_names_are_rejected() -> None:
    entries = [{"type": "stream", "name": "out"}, {"type": "stream", "name": "out"}]
    assert error(entries) == "appenders[1].name: duplicate name 'out'"


def test_names_default_to_type_and_stay_unique(tmp_path: Path) -> None:
    entries = [
        {"type": "stream"},
        {"type": "stream", "stream": "stdout"},
        {"type": "file", "path": str(tmp_path / "a.log"), "name": "audit"},
    ]
    assert [s.name for s in appenders.parse(entries, ENV)] == ["stream", "stream-1", "audit"]


def test_levels_and_locality(tmp_path: Path) -> None:
    entries = [
        {"type": "file", "path": str(tmp_path / "a.log"), "level": "warning"},
        {"type": "syslog", "url": "unix:///dev/log"},
        {"type": "syslog", "url": "udp://127.0.0.1:514"},
        {"type": "bugsnag", "api_key_env": "TOKEN"},
    ]
    specs = appenders.parse(entries, ENV)
    assert [s.levelno for s in specs] == [30, 5, 5, 40]  # bugsnag: errors by default
    assert [s.local for s in specs] == [True, True, False, False]


def test_build_inline_local_only(tmp_path: Path) -> None:
    entries = [
        {"type": "file", "path": str(tmp_path / "a.log")},
        {"type": "splunk", "url": "http://127.0.0.1:1/e", "token_env": "TOKEN"},
    ]
    built = appenders.build(entries, ENV, inline=True, local_only=True)
    assert [(type(a), a.name) for a in built] == [(InlineAppender, "file")]
    built[0].close()
    threaded = appenders.build(entries, ENV)
    assert [type(a) for a in threaded] == [AsyncAppender, AsyncAppender]
    assert all(a.close(1) for a in threaded)


def test_validate_never_opens_files(tmp_path: Path) -> None:
    appenders.validate([{"type": "file", "path": str(tmp_path / "a.log")}], ENV)
    assert not (tmp_path / "a.log").exists()
