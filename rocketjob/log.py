"""Logging: loguru in front, the appenders package behind.

``from rocketjob.log import logger`` everywhere; inside ``perform`` use ``self.logger``.
A process calls :func:`setup_logging` once (the supervisor before it forks, each worker right
after): one loguru sink turns each record into an :class:`appenders.Record` and hands it to
every appender whose level it meets. Appenders in a worker deliver asynchronously (bounded
queue, one thread each); the supervisor writes only to local appenders, inline, so it holds no
threads or network sockets when it forks. :func:`job_context` adds the job's fields to every
record its thread (or, for a coroutine job, its task) logs and applies the job's ``log_level``.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from loguru import logger

import appenders
from appenders import AppenderConfigError, DeliveredAppender, Record, Spec, exception_dict
from rocketjob.errors import ConfigError

__all__ = ["LogHandle", "job_context", "logger", "setup_logging"]

#: The level override while a job with a ``log_level`` runs: a context variable, so it is
#: the job thread's own for a thread job and the task's own for a coroutine job (each
#: asyncio task runs in a copy of the context; ``asyncio.to_thread`` carries it along).
_job_level: contextvars.ContextVar[int] = contextvars.ContextVar("rocketjob_job_level")
_setup_lock = threading.Lock()
_active: LogHandle | None = None
_DEFAULT_ENTRIES: tuple[Mapping[str, Any], ...] = ({"type": "stream", "stream": "stderr"},)


class _Dispatcher:
    """The one loguru sink: builds a Record once and gives it to each appender."""

    def __init__(self, outs: Sequence[DeliveredAppender]) -> None:
        self.routes = [(out, _ignored_loggers(out)) for out in outs]

    def __call__(self, message: Any) -> None:
        record = to_record(message.record)
        for out, ignored in self.routes:  # each appender applies its own level
            if not (ignored and record.logger.startswith(ignored)):
                out.emit(record)


def _ignored_loggers(out: Any) -> tuple[str, ...]:
    """Loggers of the client library an appender uses: their records never go back into it."""
    return tuple(getattr(getattr(out, "target", None), "ignore_loggers", ()))


def to_record(r: Mapping[str, Any]) -> Record:
    """An :class:`appenders.Record` from a loguru record dict."""
    extra = dict(r["extra"])
    source = extra.pop("_logger", None) or r["name"] or ""
    exc = r["exception"]
    return Record(
        r["message"],
        level=r["level"].name,
        levelno=r["level"].no,
        time=r["time"].astimezone(dt.UTC),
        extra=extra,
        exception=exception_dict(exc.value) if exc is not None and exc.value is not None else None,
        logger=source,
        thread=r["thread"].name,
        process=r["process"].id,
    )


class LogHandle:
    """The logging set up by :func:`setup_logging`: reopen, drops, close."""

    def __init__(self, levelno: int, outs: Sequence[DeliveredAppender], close_timeout: float):
        self.levelno = levelno
        self.appenders = list(outs)
        self.close_timeout = close_timeout
        self._dispatcher = _Dispatcher(self.appenders)
        self._lock = threading.Lock()
        self._floor = levelno  # the loguru handler's level: the lowest any thread needs
        self._token = object()
        self._handler_id: int | None = self._add_handler(levelno)

    def _add_handler(self, levelno: int) -> int:
        token = self._token = object()
        default = self.levelno

        def accept(r: Mapping[str, Any]) -> bool:
            wanted = _job_level.get(default)
            return token is self._token and r["level"].no >= wanted

        return logger.add(self._dispatcher, level=levelno, format="{message}", filter=accept)

    def allow_level(self, levelno: int) -> None:
        """Let records down to ``levelno`` reach the filter (a job logs below the default).

        Loguru drops records under its handler's level almost for free, so the handler stays
        at the configured level until a job asks for a lower one, and is then swapped once.
        """
        with self._lock:
            if levelno >= self._floor or self._handler_id is None:
                return
            old, self._floor = self._handler_id, levelno
            self._handler_id = self._add_handler(levelno)
            logger.remove(old)

    def reopen(self) -> None:
        """Reopen log files and connections (on USR1, after logrotate)."""
        for out in self.appenders:
            out.reopen()

    def drops(self) -> dict[str, int]:
        """Records each appender could not deliver, by appender name (for the heartbeat)."""
        return {out.name: out.dropped for out in self.appenders}

    def close(self, timeout: float | None = None) -> bool:
        """Stop logging to the appenders and flush them within ``timeout`` (all together).

        Returns True when every appender delivered everything it had.
        """
        self.detach()
        budget = self.close_timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        for out in self.appenders:  # every thread starts its final flush at once
            begin = getattr(out, "begin_close", None)
            if begin is not None:
                begin(budget)
        return all([out.close(max(0.0, deadline - time.monotonic())) for out in self.appenders])

    def detach(self) -> None:
        """Remove the loguru sink (the appenders stay open)."""
        with self._lock:
            if self._handler_id is not None:
                logger.remove(self._handler_id)
                self._handler_id = None


def setup_logging(
    level: str,
    specs: Sequence[Spec],
    *,
    role: str,
    stdlib_level: str = "warning",
    close_timeout: float = 5.0,
) -> LogHandle:
    """Route loguru and stdlib logging to the configured appenders; returns the handle.

    ``role="supervisor"``: only local appenders (file, stream, syslog on a unix socket),
    written inline. ``role="worker"``: every appender, each with its own queue and thread;
    call it after the fork. No entries (or none local for the supervisor): text on stderr.
    Replaces what an earlier call (possibly in the parent process) set up. ``specs`` are
    the ``[[appenders]]`` parsed at load (``Config.appenders``, or ``appenders.parse``).
    """
    global _active
    if role not in ("supervisor", "worker"):
        raise ValueError(f"role must be 'supervisor' or 'worker', got {role!r}")
    levelno = _level(level, "logging.level")
    inline = role == "supervisor"
    try:
        outs = appenders.build_specs(specs, inline=inline, local_only=inline)
        if not outs:
            outs = appenders.build(_DEFAULT_ENTRIES, inline=inline)
    except AppenderConfigError as exc:
        raise ConfigError(str(exc)) from None
    with _setup_lock:
        _discard_previous()
        _active = LogHandle(levelno, outs, close_timeout)
    route_stdlib_logging(stdlib_level)
    return _active


def _discard_previous() -> None:
    """Drop loguru's default stderr sink and the sink of an earlier setup (or the parent's)."""
    with contextlib.suppress(ValueError):  # already removed
        logger.remove(0)
    if _active is not None:
        _active.detach()
        for out in _active.appenders:
            if out.local:  # inherited files: closing our copy of the fd is safe after fork
                out.close(0)


def _level(name: str, key: str) -> int:
    try:
        return appenders.level_number(name)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def job_context(job: Any) -> AbstractContextManager[None]:
    """While a job runs: its thread's (or task's) records carry ``job_id``, ``job_class``
    and ``worker_name`` in ``extra``, and the job's ``log_level`` (if set) is their level."""
    return _JobContext(job)


class _JobContext:
    """:func:`job_context` as a plain class (entered once per job: no generator frame)."""

    __slots__ = ("_context", "_job", "_token")

    def __init__(self, job: Any) -> None:
        self._job = job
        self._token: contextvars.Token[int] | None = None
        self._context: AbstractContextManager[None] | None = None

    def __enter__(self) -> None:
        job = self._job
        level = getattr(job, "log_level", None)
        if level:
            levelno = _level(level, "log_level")
            if _active is not None:
                _active.allow_level(levelno)
            self._token = _job_level.set(levelno)
        self._context = logger.contextualize(
            job_id=job.id, job_class=job.job_class, worker_name=job.worker_name
        )
        self._context.__enter__()

    def __exit__(self, *exc: Any) -> None:
        try:
            if self._context is not None:
                self._context.__exit__(*exc)
        finally:
            if self._token is not None:
                _job_level.reset(self._token)
                self._token = None


class StdlibInterceptHandler(logging.Handler):
    """Sends standard-library records (pymongo, psycopg, urllib3 ...) into loguru.

    The stdlib logger's name becomes the record's ``logger``; fields passed with ``extra=``
    become the record's extra fields.
    """

    _standard = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
        "message",
        "asctime",
        "taskName",
    }

    def emit(self, record: logging.LogRecord) -> None:
        """Log ``record`` through loguru at its level."""
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        fields = {k: v for k, v in record.__dict__.items() if k not in self._standard}
        logger.opt(exception=record.exc_info or None).bind(_logger=record.name, **fields).log(
            level, record.getMessage()
        )


def route_stdlib_logging(level: str) -> None:
    """Make loguru the only handler of the root stdlib logger, at ``level``."""
    levelno = _level(level, "logging.stdlib_level")
    logging.basicConfig(handlers=[StdlibInterceptHandler()], level=levelno, force=True)
    logging.captureWarnings(True)


def active() -> LogHandle | None:
    """The handle of the last :func:`setup_logging` in this process, if any."""
    return _active
