"""The SQLite store: one typed store class composed from small modules by concern."""

from rocketjob.store.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
