"""Stores, chosen by URL: ``sqlite:///path``, ``postgresql://...``, ``mongodb://...``."""

from __future__ import annotations

from urllib.parse import urlsplit

from rocketjob.errors import StoreUnavailable
from rocketjob.store.base import ClaimLimit, Finish, JobDoc, JobQuery, ServerDoc, Store

__all__ = ["ClaimLimit", "Finish", "JobDoc", "JobQuery", "ServerDoc", "Store", "open_store"]

SCHEMES = ("sqlite", "postgresql", "postgres", "mongodb", "mongodb+srv")


def open_store(url: str) -> Store:
    """Open the store named by ``url``; raise StoreUnavailable with one clear line."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from rocketjob.store.sqlite import SQLiteStore

        return SQLiteStore(url)
    if scheme in ("postgresql", "postgres"):
        from rocketjob.store.postgres import PostgresStore  # type: ignore[import-not-found,unused-ignore]

        return PostgresStore(url)  # type: ignore[no-any-return,unused-ignore]
    if scheme in ("mongodb", "mongodb+srv"):
        from rocketjob.store.mongodb import MongoStore  # type: ignore[import-not-found,unused-ignore]

        return MongoStore(url)  # type: ignore[no-any-return,unused-ignore]
    raise StoreUnavailable(
        f"store url {url!r}: unknown scheme {scheme!r}; use sqlite:///path.db, "
        "postgresql://user@host/db or mongodb://host:27017/db"
    )
