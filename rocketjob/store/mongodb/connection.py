"""MongoDB store: the client, the collections and error translation.

:class:`Database` is the typed collaborator every concern module of the MongoDB store is
given (claims, throttled claims, dirmon entries, Mission Control queries): the client, the
collections, whether the server runs transactions, and :func:`translated` for pymongo's
errors.
"""

from __future__ import annotations

import datetime as dt
import functools
import warnings
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pymongo
from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.errors import (
    BulkWriteError,
    ConfigurationError,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    InvalidURI,
    OperationFailure,
    PyMongoError,
    WTimeoutError,
)

from rocketjob.errors import DuplicateJob, RocketJobError, StoreError, StoreUnavailable
from rocketjob.store.mongodb.singleton import is_duplicate_singleton

P = ParamSpec("P")
R = TypeVar("R")
#: A collection of plain documents.
Docs = Collection[dict[str, Any]]
DEFAULT_DATABASE = "rocketjob"
CLIENT_DEFAULTS = {"serverSelectionTimeoutMS": 5000, "connectTimeoutMS": 5000,
                   "socketTimeoutMS": 30000}  # fmt: skip
_AUTH_CODES = frozenset({13, 18})  # Unauthorized, AuthenticationFailed


def one_line(exc: BaseException) -> str:
    """The first line of a driver error, without pymongo's noise (at most 300 chars)."""
    text = str(exc)
    for noise in (", full error:", " (configured timeouts:", ", Timeout:"):
        text = text.split(noise)[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__


def translated(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn pymongo errors into StoreUnavailable / StoreError with one line each."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except PyMongoError as exc:
            raise translation(exc) from None

    return wrapper


def translation(exc: PyMongoError) -> RocketJobError:
    """The rocketjob error for a pymongo error (the blocking and the async calls share it)."""
    if isinstance(exc, DuplicateKeyError | BulkWriteError):
        if is_duplicate_singleton(exc):
            return DuplicateJob(f"duplicate singleton_key: {one_line(exc)}")
        return StoreError(f"MongoDB store: duplicate key: {one_line(exc)}")
    if isinstance(exc, ConnectionFailure | ExecutionTimeout | WTimeoutError):
        return StoreUnavailable(f"MongoDB store unavailable: {one_line(exc)}")
    if isinstance(exc, OperationFailure) and exc.code in _AUTH_CODES:
        return StoreUnavailable(f"MongoDB store: {one_line(exc)}")
    return StoreError(f"MongoDB store: {one_line(exc)}")


def _split_url(url: str) -> tuple[str, dict[str, str]]:
    """The URL for pymongo and the store's own options (removed from the query)."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    ours = {key: value for key, value in pairs if key == "wakeups"}
    query = urlencode([(key, value) for key, value in pairs if key != "wakeups"])
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, "")), ours


class Database:
    """The store's client and collections (see the module docstring)."""

    def __init__(self, url: str) -> None:
        client_url, options = _split_url(url)
        shown = urlsplit(url)
        display = url.replace(f":{shown.password}@", ":***@") if shown.password else url
        try:
            given = {key.lower() for key, _ in parse_qsl(urlsplit(url).query)}
            defaults: dict[str, Any] = {
                k: v for k, v in CLIENT_DEFAULTS.items() if k.lower() not in given
            }
            #: How a client of this store is made (the async side makes one per loop).
            self.client_url, self.client_options = client_url, {
                "tz_aware": True, "tzinfo": dt.UTC, "appname": "rocketjob", **defaults
            }  # fmt: skip
            with warnings.catch_warnings():  # pymongo only warns about bad URL options
                warnings.simplefilter("error", UserWarning)
                self.client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
                    client_url, **self.client_options
                )
            self.db = self.client.get_default_database(DEFAULT_DATABASE)
            hello = self.client.admin.command("hello")
            self.jobs: Docs = self.db["rocketjob_jobs"]
            self.servers: Docs = self.db["rocketjob_servers"]
            _create_indexes(self.jobs, self.servers)
        except (InvalidURI, ConfigurationError, ValueError, UserWarning) as exc:
            raise StoreUnavailable(f"store url {display!r} is invalid: {one_line(exc)}") from None
        except PyMongoError as exc:
            if hasattr(self, "client"):
                self.client.close()
            raise StoreUnavailable(
                f"cannot open MongoDB store {display}: {one_line(exc)}"
            ) from None
        replicated = bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"
        self.transactions = replicated
        self.change_streams = replicated and options.get("wakeups", "stream") != "poll"
        self.dirmon: Docs = self.db["rocketjob_dirmon_entries"]
        self.throttle_slots: Docs = self.db["rocketjob_throttle_slots"]
        self.audit: Docs = self.db["rocketjob_audit"]

    def close(self) -> None:
        """Close the client."""
        self.client.close()


def _create_indexes(jobs: Docs, servers: Docs) -> None:
    """The claim, listing, server and heartbeat indexes; the singleton index (see
    :mod:`rocketjob.store.mongodb.singleton`) and the finished-jobs index."""
    jobs.create_index(
        [("state", ASCENDING), ("priority", ASCENDING), ("_id", ASCENDING)], name="claim"
    )
    by_class = [("job_class", ASCENDING), ("state", ASCENDING), ("_id", ASCENDING)]
    jobs.create_index(by_class, name="class_state")
    jobs.create_index([("server_name", ASCENDING), ("state", ASCENDING)], name="server")
    servers.create_index([("heartbeat_at", ASCENDING)], name="heartbeat")
    jobs.create_index(
        [("_active_key", ASCENDING)],
        name="singleton",
        unique=True,
        partialFilterExpression={"_active_key": {"$type": "string"}},
    )
    jobs.create_index([("state", ASCENDING), ("completed_at", ASCENDING)], name="finished")
