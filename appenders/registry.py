"""From ``[[appenders]]`` entries to appenders: parse, validate and build."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from appenders import bugsnag, custom, file, mongodb, newrelic, splunk, stream, syslog
from appenders.base import Appender, DeliveredAppender
from appenders.config import EntryReader
from appenders.delivery import AsyncAppender, DeliveryOptions, InlineAppender
from appenders.errors import AppenderConfigError
from appenders.record import LEVELS, level_number


class Kind(NamedTuple):
    """One appender type: how to read its entry, build it, and whether it is local."""

    parse: Callable[[EntryReader], Any]
    create: Callable[[Any], Appender]
    is_local: Callable[[Any], bool]
    default_level: str = "trace"
    batch_size: int = 100


def _always(_: Any) -> bool:
    return True


def _never(_: Any) -> bool:
    return False


KINDS: dict[str, Kind] = {
    "file": Kind(file.parse, file.create, _always, batch_size=500),
    "stream": Kind(stream.parse, stream.create, _always, batch_size=500),
    "syslog": Kind(syslog.parse, syslog.create, syslog.is_local),
    "mongodb": Kind(mongodb.parse, mongodb.create, _never),
    "bugsnag": Kind(bugsnag.parse, bugsnag.create, _never, default_level=bugsnag.DEFAULT_LEVEL),
    "newrelic": Kind(newrelic.parse, newrelic.create, _never),
    "splunk": Kind(splunk.parse, splunk.create, _never),
    "custom": Kind(custom.parse, custom.create, _never),
}


@dataclass(frozen=True)
class Spec:
    """One validated entry: everything needed to build its appender."""

    index: int
    name: str
    type: str
    levelno: int
    delivery: DeliveryOptions
    options: Any
    local: bool

    def create(self) -> Appender:
        """The bare appender (no delivery wrapper)."""
        try:
            return KINDS[self.type].create(self.options)
        except OSError as exc:
            raise AppenderConfigError(f"appenders[{self.index}]: cannot open: {exc}") from exc
        except TypeError as exc:
            raise AppenderConfigError(f"appenders[{self.index}].class: {exc}") from exc


def _delivery(reader: EntryReader, kind: Kind) -> DeliveryOptions:
    return DeliveryOptions(
        queue_size=reader.integer("queue_size", 10_000, minimum=1),
        batch_size=reader.integer("batch_size", kind.batch_size, minimum=1),
        overflow=reader.text("overflow", "drop", ("drop", "block")),
        block_timeout=reader.number("block_timeout", 0.05),
        max_retries=reader.integer("max_retries", 5),
        retry_backoff=reader.number("retry_backoff", 0.2),
        linger=reader.number("linger", 0.05),
    )


def parse_entry(index: int, entry: Mapping[str, Any], environ: Mapping[str, str]) -> Spec:
    """Validate entry number ``index``; AppenderConfigError naming the key otherwise."""
    if not isinstance(entry, Mapping):
        raise AppenderConfigError(f"appenders[{index}]: expected a table, got {entry!r}")
    reader = EntryReader(index, entry, environ)
    kind_name = reader.text("type", choices=tuple(KINDS))
    kind = KINDS[kind_name]
    level = reader.text("level", kind.default_level)
    if level.upper() not in LEVELS:
        reader.fail(
            "level", f"must be one of {', '.join(n.lower() for n in LEVELS)}, got {level!r}"
        )
    name = reader.text("name", "")
    delivery = _delivery(reader, kind)
    options = kind.parse(reader)
    reader.finish()
    local = kind.is_local(options)
    return Spec(index, name, kind_name, level_number(level), delivery, options, local)


def parse(
    entries: Sequence[Mapping[str, Any]], environ: Mapping[str, str] | None = None
) -> list[Spec]:
    """Validate every entry and give each a unique name (its ``type`` unless set)."""
    env = os.environ if environ is None else environ
    specs = [parse_entry(i, entry, env) for i, entry in enumerate(entries)]
    seen: set[str] = set()
    named = []
    for spec in specs:
        name = spec.name or (spec.type if spec.type not in seen else f"{spec.type}-{spec.index}")
        if name in seen:
            key = "name" if spec.name else "type"
            raise AppenderConfigError(f"appenders[{spec.index}].{key}: duplicate name {name!r}")
        seen.add(name)
        named.append(
            Spec(spec.index, name, spec.type, spec.levelno, spec.delivery, spec.options, spec.local)
        )
    return named


def validate(
    entries: Sequence[Mapping[str, Any]], environ: Mapping[str, str] | None = None
) -> None:
    """Raise :class:`AppenderConfigError` naming the entry and key of the first problem."""
    parse(entries, environ)


def build(
    entries: Sequence[Mapping[str, Any]],
    environ: Mapping[str, str] | None = None,
    *,
    inline: bool = False,
    local_only: bool = False,
) -> list[DeliveredAppender]:
    """Validate and build the appenders, each behind its delivery wrapper.

    By default each gets an :class:`AsyncAppender` (queue and thread). ``inline=True`` writes
    in the caller's thread instead (no threads: a pre-fork supervisor); ``local_only=True``
    keeps only local appenders (file, stream, syslog over a unix socket).
    """
    return build_specs(parse(entries, environ), inline=inline, local_only=local_only)


def build_specs(
    specs: Sequence[Spec], *, inline: bool = False, local_only: bool = False
) -> list[DeliveredAppender]:
    """:func:`build` from entries already parsed (:func:`parse`); if one fails to build,
    those built before it are closed."""
    built: list[DeliveredAppender] = []
    try:
        for spec in specs:
            if local_only and not spec.local:
                continue
            built.append(wrap(spec, inline=inline))
    except BaseException:
        for appender in built:
            appender.close(timeout=0)
        raise
    return built


def wrap(spec: Spec, *, inline: bool = False) -> DeliveredAppender:
    """Build the appender of ``spec`` behind its delivery wrapper."""
    target = spec.create()
    if inline:
        return InlineAppender(target, name=spec.name, levelno=spec.levelno, local=spec.local)
    return AsyncAppender(
        target, name=spec.name, levelno=spec.levelno, options=spec.delivery, local=spec.local
    )
