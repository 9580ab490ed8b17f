"""The log record every appender receives, and the level names and numbers it uses."""

from __future__ import annotations

import datetime as dt
import traceback
from collections.abc import Mapping
from typing import Any

import orjson

#: Level name -> number, loguru's scale (stdlib levels share the numbers).
LEVELS: Mapping[str, int] = {
    "TRACE": 5,
    "DEBUG": 10,
    "INFO": 20,
    "SUCCESS": 25,
    "WARNING": 30,
    "ERROR": 40,
    "CRITICAL": 50,
}

_FIELDS = ("time", "level", "message", "extra", "exception", "logger", "thread", "process")


def level_number(name: str) -> int:
    """The number of level ``name`` (any case); ValueError when it is not a level."""
    try:
        return LEVELS[name.upper()]
    except KeyError:
        raise ValueError(f"unknown level {name!r}; use one of {', '.join(LEVELS)}") from None


def exception_dict(exc: BaseException) -> dict[str, Any]:
    """The JSON-safe form of ``exc``: class_name, message and the full backtrace lines."""
    lines = "".join(traceback.format_exception(exc)).rstrip("\n").split("\n")
    cls = type(exc)
    name = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    return {"class_name": name, "message": str(exc), "backtrace": lines}


class Record:
    """One log record, readable as attributes (``record.message``) and keys (``record["message"]``).

    ``time`` is timezone-aware, ``level`` a level name (``"INFO"``), ``levelno`` its number,
    ``extra`` the fields bound by the caller (``job_id`` ... inside a job) and ``exception``
    None or ``{"class_name", "message", "backtrace": [str]}``. ``logger`` names the source
    (module or stdlib logger), ``thread`` the thread name and ``process`` the pid.
    """

    __slots__ = (
        "exception",
        "extra",
        "level",
        "levelno",
        "logger",
        "message",
        "process",
        "thread",
        "time",
    )

    def __init__(
        self,
        message: str,
        *,
        level: str = "INFO",
        time: dt.datetime | None = None,
        extra: dict[str, Any] | None = None,
        exception: dict[str, Any] | None = None,
        logger: str = "",
        thread: str = "",
        process: int = 0,
        levelno: int | None = None,
    ) -> None:
        self.message = message
        self.level = level
        self.levelno = LEVELS.get(level, 0) if levelno is None else levelno
        self.time = time if time is not None else dt.datetime.now(dt.UTC)
        self.extra = extra if extra is not None else {}
        self.exception = exception
        self.logger = logger
        self.thread = thread
        self.process = process

    def __getitem__(self, key: str) -> Any:
        if key not in _FIELDS and key != "levelno":
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in _FIELDS

    def keys(self) -> tuple[str, ...]:
        """The field names, as for a mapping."""
        return _FIELDS

    def __repr__(self) -> str:
        return f"Record({self.level} {self.message!r} extra={self.extra!r})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict; ``time`` in ISO 8601 with its offset."""
        return {
            "time": self.time.isoformat(),
            "level": self.level,
            "message": self.message,
            "extra": self.extra,
            "exception": self.exception,
            "logger": self.logger,
            "thread": self.thread,
            "process": self.process,
        }

    def to_json(self) -> bytes:
        """One JSON object, UTF-8, no trailing newline; unknown extra values become strings."""
        return orjson.dumps(self.to_dict(), default=str)


def format_text(record: Record) -> str:
    """One human-readable line (plus the backtrace lines when there is an exception)."""
    fields = " ".join(f"{k}={v}" for k, v in record.extra.items())
    line = f"{record.time.isoformat(timespec='milliseconds')} {record.level:<8} {record.message}"
    if fields:
        line = f"{line}  {fields}"
    if record.exception:
        line = "\n".join([line, *record.exception.get("backtrace", ())])
    return line
