"""Configuration: TOML read with tomllib into frozen dataclasses, validated once at load.

Every section is parsed here, once: ``[[appenders]]`` into :class:`appenders.Spec` values
(the appenders library's own parser) and ``[web]`` into :class:`~rocketjob.config.web.WebConfig`
(:mod:`rocketjob.config.web`). The package owns plain data only: it imports neither
Mission Control nor the log wiring; they consume what it parsed.

Unknown keys and values of the wrong type are errors that name the key
(``worker.threads: expected an integer, got 'ten'``). Secrets never live in the file:
keys ending in ``_env`` name the environment variable that holds them.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import appenders
from appenders import AppenderConfigError, Spec
from rocketjob.config.web import WebConfig, load_web_config
from rocketjob.errors import ConfigError


@dataclass(frozen=True)
class StoreConfig:
    """``[store]``: which database holds the jobs."""

    url: str | None = None
    #: Most bytes a job's arguments and custom fields (or its result) may take as JSON;
    #: 16 MiB is MongoDB's document limit, so every engine behaves alike.
    max_job_bytes: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class SupervisorConfig:
    """``[supervisor]``: the pre-fork daemon."""

    processes: int = 1
    drain_timeout: float = 30.0
    pidfile: str | None = None
    #: A worker not ready (imports done, server registered) this many seconds after its
    #: fork is killed and replaced with back-off.
    boot_timeout: float = 60.0
    #: The crash back-off (0.5 s doubling up to 30 s) resets once a worker started after
    #: the last failure has run this many seconds.
    backoff_reset: float = 60.0


@dataclass(frozen=True)
class WorkerConfig:
    """``[worker]``: one worker process and its thread pool."""

    threads: int = 10
    imports: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    heartbeat_seconds: float = 15.0
    zombie_seconds: float = 60.0
    #: Longest pause between two claim attempts when idle (new jobs wake workers at once).
    max_poll_seconds: float = 2.0
    #: Slots of the worker's event loop: coroutine jobs (``async def perform``) it runs
    #: at once beside its threads (0: no event loop, coroutine jobs are not claimed).
    async_concurrency: int = 100
    #: A coroutine job blocking the event loop this many seconds is logged (a warning
    #: with its job id and how long the loop was blocked).
    async_block_warning: float = 0.1
    #: A job running in a worker process that died abnormally this many times is failed
    #: with rocketjob.WorkerCrashed instead of re-queued.
    max_crashes: int = 3
    #: Seconds after a job's soft timeout (JobTimeout in its thread) until its process is
    #: killed and replaced, if it is still running.
    timeout_grace: float = 10.0
    #: Recycle the process (drain, exit, replaced at once) after this many jobs.
    max_jobs: int | None = None
    #: Recycle the process when its resident memory after a job is above this (MiB).
    max_memory_mb: int | None = None


@dataclass(frozen=True)
class LoggingConfig:
    """``[logging]``: level and delivery of log records."""

    level: str = "info"
    close_timeout: float = 5.0
    stdlib_level: str = "warning"


@dataclass(frozen=True)
class DirmonConfig:
    """``[dirmon]``: directory monitoring (rocketjob.included.DirmonJob)."""

    #: When set, dirmon entries must watch and archive inside these directories.
    roots: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    """A whole configuration file."""

    store: StoreConfig = field(default_factory=StoreConfig)
    supervisor: SupervisorConfig = field(default_factory=SupervisorConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    dirmon: DirmonConfig = field(default_factory=DirmonConfig)
    #: ``[[appenders]]``, parsed. Loaded with ``check_environment=False`` their secrets
    #: are placeholders: only a config loaded with the environment checked (the daemon's)
    #: is used to build appenders.
    appenders: tuple[Spec, ...] = ()
    web: WebConfig = field(default_factory=WebConfig)
    path: str | None = None


_SECTIONS: dict[str, type] = {
    "store": StoreConfig,
    "supervisor": SupervisorConfig,
    "worker": WorkerConfig,
    "logging": LoggingConfig,
    "dirmon": DirmonConfig,
}
_LOG_LEVELS = ("trace", "debug", "info", "success", "warning", "error", "critical")
_POSITIVE = {
    "supervisor.processes", "supervisor.boot_timeout", "worker.threads", "worker.heartbeat_seconds",
    "worker.zombie_seconds", "worker.max_poll_seconds", "store.max_job_bytes",
    "worker.async_block_warning",
    "supervisor.backoff_reset", "worker.timeout_grace",
}  # fmt: skip
_NON_NEGATIVE = {"supervisor.drain_timeout", "logging.close_timeout", "worker.async_concurrency"}


def load(path: str | Path, *, check_environment: bool = True) -> Config:
    """Read and validate the TOML file at ``path``; raise ConfigError naming the key.

    ``check_environment=False`` skips checking that the variables named by ``*_env`` keys
    are set: commands that only read the store (``rocketjob jobs list``) need no secrets.
    """
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read it: {exc.strerror}") from None
    return from_dict(data, str(path), check_environment=check_environment)


def from_dict(
    data: Mapping[str, Any], path: str | None = None, *, check_environment: bool = True
) -> Config:
    """Validate an already parsed configuration."""
    known = {*_SECTIONS, "appenders", "web"}
    for key in data:
        if key not in known:
            raise ConfigError(f"{key}: unknown section; expected one of {', '.join(sorted(known))}")
    sections = {name: _section(name, cls, data.get(name, {})) for name, cls in _SECTIONS.items()}
    entries = data.get("appenders", [])
    if not isinstance(entries, list) or not all(isinstance(a, dict) for a in entries):
        raise ConfigError("appenders: expected [[appenders]] tables")
    web = data.get("web", {})
    if not isinstance(web, dict):
        raise ConfigError("web: expected a [web] table")
    config = Config(
        **sections,
        appenders=_parse_appenders(entries, check_environment),
        web=load_web_config(web),
        path=path,
    )
    _check_values(config)
    return config


def _section(name: str, cls: type, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: expected a [{name}] table")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            raise ConfigError(
                f"{name}.{key}: unknown key; expected one of {', '.join(sorted(fields))}"
            )
        values[key] = _coerce(f"{name}.{key}", hints[key], value)
    return cls(**values)


def _coerce(where: str, hint: Any, value: Any) -> Any:
    """Check ``value`` against the dataclass type ``hint``; convert lists to tuples."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _coerce(where, options[0], value)
    if origin is tuple:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
        return tuple(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is str and not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _check_values(config: Config) -> None:
    for section in _SECTIONS:
        for f in dataclasses.fields(getattr(config, section)):
            key, value = f"{section}.{f.name}", getattr(getattr(config, section), f.name)
            if key in _POSITIVE and value <= 0:
                raise ConfigError(f"{key}: must be greater than 0, got {value}")
            if key in _NON_NEGATIVE and value < 0:
                raise ConfigError(f"{key}: must not be negative, got {value}")
    for key in ("level", "stdlib_level"):
        if getattr(config.logging, key).lower() not in _LOG_LEVELS:
            raise ConfigError(f"logging.{key}: must be one of {', '.join(_LOG_LEVELS)}")
    _check_minimums(config.worker)
    if config.worker.zombie_seconds <= config.worker.heartbeat_seconds:
        raise ConfigError(
            "worker.zombie_seconds: must exceed worker.heartbeat_seconds "
            f"({config.worker.heartbeat_seconds}), got {config.worker.zombie_seconds}"
        )


#: Smallest allowed values of the fault-containment keys (issue 16).
_MINIMUMS = {"max_crashes": 1, "max_jobs": 1, "max_memory_mb": 16}


def _check_minimums(worker: WorkerConfig) -> None:
    for key, least in _MINIMUMS.items():
        value = getattr(worker, key)
        if value is not None and value < least:
            raise ConfigError(f"worker.{key}: must be at least {least}, got {value}")


def _parse_appenders(entries: list[Mapping[str, Any]], check_environment: bool) -> tuple[Spec, ...]:
    """Parse ``[[appenders]]`` (keys, values, and, when asked, the ``*_env`` variables)."""
    environ: dict[str, str] = dict(os.environ)
    if not check_environment:  # every named variable counts as set
        for entry in entries:
            for key, value in entry.items():
                if key.endswith("_env") and isinstance(value, str):
                    environ.setdefault(value, "(not checked)")
    try:
        return tuple(appenders.parse(entries, environ))
    except AppenderConfigError as exc:
        raise ConfigError(str(exc)) from None
